{ Authorize a Gmail account and send a message with an attachment (Delphi 2009+ / Free Pascal).

    example CONFIG.json LOGIN_HINT ATTACHMENT_PATH

  Without OAUTHMAIL_HEADLESS_CA the system browser opens the consent page. With
  OAUTHMAIL_HEADLESS_CA=ca.pem (Unix; the local Google stand-in, --auto-approve) the url opener has
  curl fetch the consent URL in the background and follow its redirect to the library's loopback
  listener, as a browser would. Prints the sent message's Message-ID.

  Free Pascal: fpc -Mdelphiunicode -Fu<dir of OAuthMail.pas> -Fl<dir of liboauthmail.so> example.dpr }
program example;

{$IFDEF FPC}
  {$IFDEF UNICODE}{$CODEPAGE UTF8}{$ENDIF}  { the string literals below are UTF-8 }
{$ENDIF}
{$APPTYPE CONSOLE}

uses
  {$IFDEF FPC}{$IFDEF UNIX}cthreads,{$ENDIF}{$ENDIF}  { FIRST: callbacks run on other threads }
  SysUtils, Classes,
  {$IFDEF UNIX}Unix,{$ENDIF}
  OAuthMail;

type
  THost = class
    CaFile: string;
    function OpenUrl(const Url: string): Boolean;
    procedure Log(Level: Cardinal; const Msg: string);
  end;

function THost.OpenUrl(const Url: string): Boolean;
begin
  { Called on the authorizing thread before the library listens for the redirect: start the
    "browser" in the background and return at once. }
{$IFDEF UNIX}
  Result := fpSystem(OAuthMailToUtf8('curl -s -o /dev/null -L --max-time 20 --cacert ''' + CaFile + ''' ''' + Url + ''' &')) = 0;
{$ELSE}
  Result := False;
{$ENDIF}
end;

procedure THost.Log(Level: Cardinal; const Msg: string);
begin
  { May run on another thread: keep it short. }
  WriteLn(ErrOutput, '[log ', Level, '] ', Msg);
end;

function ReadUtf8File(const Path: string): string;
var
  F: TFileStream;
  U: TOAuthMailUtf8;
begin
  F := TFileStream.Create(Path, fmOpenRead or fmShareDenyWrite);
  try
    SetLength(U, F.Size);
    if F.Size > 0 then F.ReadBuffer(U[1], F.Size);
  finally
    F.Free;
  end;
  Result := OAuthMailFromUtf8(U);
end;

var
  Host: THost;
  Client: TOAuthMailClient;
  Token, Email, Msg, SendResult: string;
begin
  if ParamCount <> 3 then
  begin
    WriteLn(ErrOutput, 'usage: example CONFIG.json LOGIN_HINT ATTACHMENT_PATH');
    Halt(2);
  end;
  Host := THost.Create;
  try
    try
      Client := TOAuthMailClient.Create(ReadUtf8File(ParamStr(1)));
      try
        Client.SetLogger(Host.Log, OAUTHMAIL_LOG_INFO);
        Host.CaFile := GetEnvironmentVariable('OAUTHMAIL_HEADLESS_CA');
        if Host.CaFile <> '' then Client.SetUrlOpener(Host.OpenUrl);
        Token := Client.Authorize('{"login_hint": ' + JsonQuote(ParamStr(2)) + '}');
        { Store Token protected (it holds the refresh token); here it is used at once. }
        Email := JsonGetString(Token, 'email');
        Msg := '{"from": ' + JsonQuote('Firma SRL <' + Email + '>') + ', ' +
          '"to": ["Ion Popescu <ion@example.ro>"], ' +
          '"subject": ' + JsonQuote('Factură nr. 123 [' + {$IFDEF UNICODE}'pascal-unicode'{$ELSE}'pascal-ansi'{$ENDIF} + '] — ă â î ș ț Ă Â Î Ș Ț') + ', ' +
          '"text": ' + JsonQuote('Bună ziua,'#10#10'vă trimitem factura în atașament: ă â î ș ț.'#10) + ', ' +
          '"attachments": [{"path": ' + JsonQuote(ParamStr(3)) + ', "filename": ' +
          JsonQuote('Situație plăți [' + {$IFDEF UNICODE}'pascal-unicode'{$ELSE}'pascal-ansi'{$ENDIF} + '] ăâîșț.txt') + '}]}';
        SendResult := Client.Send(Token, Msg);
        WriteLn(JsonGetString(SendResult, 'message_id'));
      finally
        Client.Free;
      end;
    except
      on E: EOAuthMail do
      begin
        WriteLn(ErrOutput, 'failed: ', E.Message, ' (hint: ', E.Hint, ')');
        ExitCode := 1;
      end;
    end;
  finally
    Host.Free;
  end;
end.
