{ The Delphi 7 (ANSI) branches of OAuthMail.pas, compiled and run with Free Pascal:
    fpc -Mdelphi -dOAUTHMAIL_MODEL_DELPHI7 test_delphi7.dpr
  models Delphi 7's string types: string = AnsiString in the ANSI code page (here Windows-1250,
  the Central European code page a Romanian Windows uses; set through DefaultSystemCodePage, with
  cwstring doing the conversions as Windows would), converted to and from UTF-8 through WideString
  (UTF8Encode(WideString(S)) / UTF8Decode), exactly the code Delphi 7 compiles. What this does NOT
  model: Delphi 7's compiler and RTL themselves (Windows.LoadLibrary, SyncObjs, its TThread).
  Windows-1250 has ş and ţ with a cedilla, not ș and ț with a comma below: those become '?'.
  Arguments: CONFIG.json LOGIN_HINT ATTACHMENT_PATH; prints the sent message's Message-ID last. }
program test_delphi7;

{$APPTYPE CONSOLE}

uses
  {$IFDEF UNIX}cthreads, cwstring,{$ENDIF}
  SysUtils, Classes, {$IFDEF UNIX}Unix,{$ENDIF} OAuthMail;

var
  Failures: Integer = 0;
  Checks: Integer = 0;

procedure Check(Cond: Boolean; const What: string);
begin
  Inc(Checks);
  if not Cond then
  begin
    Inc(Failures);
    WriteLn(ErrOutput, '  CHECK FAILED: ', What);
  end;
end;

function Bytes(const B: array of Byte): TOAuthMailUtf8;
var
  I: Integer;
begin
  SetLength(Result, Length(B));
  for I := 0 to High(B) do Result[I + 1] := AnsiChar(B[I]);
end;

type
  THost = class
    CaFile: string;
    ProgressCalls: Integer;
    LastDone, LastTotal: Int64;
    procedure OpenUrl(Sender: TObject; const Url: string; var Opened: Boolean);
    procedure Progress(Sender: TObject; BytesDone, BytesTotal: Int64; var Cancel: Boolean);
  end;

procedure THost.Progress(Sender: TObject; BytesDone, BytesTotal: Int64; var Cancel: Boolean);
begin
  Inc(ProgressCalls);
  LastDone := BytesDone;
  LastTotal := BytesTotal;
end;

procedure THost.OpenUrl(Sender: TObject; const Url: string; var Opened: Boolean);
begin
  fpSystem('curl -s -o /dev/null -L --max-time 20 --cacert ''' + CaFile + ''' ''' + Url + ''' &');
end;

const
  { Windows-1250: a-breve E3, a-circumflex E2, i-circumflex EE, s-cedilla BA, t-cedilla FE,
    their capitals C3 C2 CE AA DE, em dash 97. }
  Diacritics = #$E3' '#$E2' '#$EE' '#$BA' '#$FE' '#$C3' '#$C2' '#$CE' '#$AA' '#$DE;

var
  Mail: TOAuthMail;
  Msg: TOAuthMailMessage;
  Host: THost;
  Id: string;
  R: TOAuthMailCheckResult;
  L: TOAuthMailAccounts;
begin
  DefaultSystemCodePage := 1250;
  if ParamCount <> 3 then Halt(2);
  Check(OAuthMailToUtf8(Diacritics) = Bytes([$C4, $83, $20, $C3, $A2, $20, $C3, $AE, $20, $C5, $9F, $20, $C5, $A3,
    $20, $C4, $82, $20, $C3, $82, $20, $C3, $8E, $20, $C5, $9E, $20, $C5, $A2]), 'cp1250 -> UTF-8');
  Check(OAuthMailFromUtf8(Bytes([$C4, $83, $C5, $9F])) = #$E3#$BA, 'UTF-8 -> cp1250');
  Check(Pos('?', OAuthMailFromUtf8(Bytes([$C8, $99]))) > 0, 's-comma (not in cp1250) becomes ?');
  Check(JsonGetString('{"k": "' + #$BA + '\u0163"}', 'k') = #$BA#$FE, 'JsonGetString decodes to cp1250');
  try
    TOAuthMailClient.Create('{"provider": "google", "client_id": "x", "c'#$E2'mp": 1}').Free;
    Check(False, 'no exception');
  except
    on E: EOAuthMail do Check(E.Field = 'config.c'#$E2'mp', 'field in cp1250: ' + E.Field);
  end;
  { The typed check report and store list decode to the ANSI code page too. }
  R := OAuthMailParseCheck('{"ok": false, "steps": [{"step": "config", "target": "google", "ok": true, "ms": 0, ' +
    '"detail": "x"}, {"step": "refresh", "target": "a@b.ro", "ok": false, "ms": 12, "detail": "", "error": ' +
    '{"status": "reauthorize", "code": 5, "message": "m", "hint": "Autoriza\u021bi din nou \u0163", "hint_id": "reauthorize"}}]}', 5);
  Check((Length(R.Steps) = 2) and (R.Failed = 1) and not R.Ok and (R.Steps[1].ErrorStatus = 5) and (R.Steps[1].Ms = 12), 'check report');
  Check((R.Steps[1].HintId = 'reauthorize') and (Copy(R.Steps[1].Hint, Length(R.Steps[1].Hint), 1) = #$FE), 'hint in cp1250');
  L := OAuthMailParseAccounts('{"accounts": [{"account": "b@c.ro", "provider": "google", "scope": "s", ' +
    '"authorized_at": 1764000000, "expires_at": null, "refreshed_at": 1764003000}]}');
  Check((Length(L) = 1) and (L[0].Account = 'b@c.ro') and (L[0].AuthorizedAt = 1764000000) and (L[0].ExpiresAt = 0) and
    (L[0].RefreshedAt = 1764003000), 'store list');
  Host := THost.Create;
  Host.CaFile := GetEnvironmentVariable('OAUTHMAIL_TEST_CA');
  Mail := TOAuthMail.Create(nil);
  Msg := TOAuthMailMessage.Create;
  try
    Mail.ConfigFile := ParamStr(1);
    Mail.OnOpenUrl := Host.OpenUrl;
    Mail.OnProgress := Host.Progress;
    Check(Mail.Authorize(ParamStr(2)) = ParamStr(2), 'authorize');
    Msg.From := 'Firma SRL <' + ParamStr(2) + '>';
    Msg.Recipients.Add('Ion Popescu <ion@example.ro>');
    Msg.Subject := 'Factur'#$E3' nr. 123 [pascal-delphi7-model] '#$97' ' + Diacritics;
    Msg.Text := 'Bun'#$E3' ziua,'#10#10'v'#$E3' trimitem factura '#$EE'n ata'#$BA'ament: '#$E3' '#$E2' '#$EE' '#$BA' '#$FE'.'#10;
    Msg.AddAttachment(ParamStr(3), 'Situa'#$FE'ie pl'#$E3#$FE'i [pascal-delphi7-model] '#$E3#$E2#$EE#$BA#$FE'.txt');
    Id := Mail.Send(Msg);
    Check((Host.ProgressCalls > 0) and (Host.LastDone = Host.LastTotal) and (Host.LastTotal > 0), 'OnProgress ends at the total');
  finally
    Msg.Free;
    Mail.Free;
    Host.Free;
  end;
  WriteLn(ErrOutput, 'pascal-delphi7-model: ', Checks, ' checks, ', Failures, ' failed');
  if Failures > 0 then Halt(1);
  WriteLn(Id);
end.
