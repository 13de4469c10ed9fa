program readme_example;
{$APPTYPE CONSOLE}
{$IFDEF UNICODE}{$CODEPAGE UTF8}{$ENDIF}
uses {$IFDEF UNIX}cthreads,{$ENDIF} SysUtils, OAuthMail;
var
  Mail: TOAuthMail;
  Msg: TOAuthMailMessage;
begin
  Mail := TOAuthMail.Create(nil);
  Msg := TOAuthMailMessage.Create;
  try
    try
      Mail.ConfigFile := 'oauthmail.json';
      Mail.Authorize('office@firma.ro');            { opens the browser, waits }
      Msg.From := 'Firma SRL <office@firma.ro>';
      Msg.Recipients.Add('Ion Popescu <ion@example.ro>');
      Msg.Subject := 'Factură nr. 123 — scadență';
      Msg.Text := 'Bună ziua, găsiți în atașament factura. Mulțumim, Ștefan Câmpeanu';
      Msg.AddAttachment('factură-123.pdf');
      WriteLn(Mail.Send(Msg));                      { the Message-ID }
    except
      on E: Exception do
      begin
        WriteLn(ErrOutput, 'sending failed: ', E.Message);
        ExitCode := 1;
      end;
    end;
  finally
    Msg.Free;
    Mail.Free;
  end;
end.
