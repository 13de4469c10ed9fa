{ Tests of TOAuthMail, TOAuthMailMessage and the dynamic loading, with Free Pascal in -Mdelphi and
  -Mdelphiunicode. Arguments: CONFIG.json LOGIN_HINT ATTACHMENT_PATH OLD_LIBRARY. The environment
  (scripts/test.d/50-bindings.sh): OAUTHMAIL_TEST_CA (the stand-in's CA), OAUTHMAIL_TEST_MAILBOX,
  OAUTHMAIL_TEST_CONFIG_STORE, OAUTHMAIL_TEST_CONFIG_SA + OAUTHMAIL_TEST_SA_SUBJECT,
  OAUTHMAIL_TEST_CONFIG_MS_GRAPH / _MS_SMTP + OAUTHMAIL_TEST_MS_USER; a missing one fails.
  Every message for check_mailbox.py is printed on stdout as 'TAG ACCOUNT TRANSPORT MESSAGE-ID'
  (tags pascal-component-ansi[-store|-sa|-ms-graph|-ms-smtp], likewise -unicode). }
program test_component;

{$APPTYPE CONSOLE}
{$IFDEF UNICODE}{$CODEPAGE UTF8}{$ENDIF}

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}
  SysUtils, Classes, {$IFDEF UNIX}Unix,{$ENDIF} OAuthMail;

const
  Tag = {$IFDEF UNICODE}'pascal-component-unicode'{$ELSE}'pascal-component-ansi'{$ENDIF};

var
  Failures: Integer = 0;
  Checks: Integer = 0;
  ConfigPath, User, Attachment, OldLibrary, CaFile, SentId: string;
  Sent: array of string;  { 'TAG ACCOUNT TRANSPORT ID' lines for check_mailbox.py }

procedure Verify(const T, Account, Transport, Id: string);
begin
  SetLength(Sent, Length(Sent) + 1);
  Sent[High(Sent)] := T + ' ' + Account + ' ' + Transport + ' ' + Id;
end;

function Env(const Name: string): string;
begin
  Result := GetEnvironmentVariable(Name);
  if Result = '' then raise Exception.Create(Name + ' is not set (run scripts/test.d/50-bindings.sh)');
end;

{ The number of messages in the stand-in's mailbox (one .eml each, plus its sidecars). }
function MailboxCount: Integer;
var
  R: TSearchRec;
begin
  Result := 0;
  if FindFirst(IncludeTrailingPathDelimiter(Env('OAUTHMAIL_TEST_MAILBOX')) + '*.eml', faAnyFile, R) = 0 then
  begin
    repeat
      Inc(Result);
    until FindNext(R) <> 0;
    FindClose(R);
  end;
end;

procedure Check(Cond: Boolean; const What: string);
begin
  Inc(Checks);
  if not Cond then
  begin
    Inc(Failures);
    WriteLn(ErrOutput, '  CHECK FAILED: ', What);
  end;
end;

type
  TTestProc = procedure;

procedure Run(const Name: string; Test: TTestProc);
var
  Before: Integer;
  Started: TDateTime;
begin
  Before := Failures;
  Started := Now;
  try
    Test;
  except
    on E: Exception do
    begin
      Inc(Failures);
      WriteLn(ErrOutput, '  unexpected ', E.ClassName, ': ', E.Message);
    end;
  end;
  if Failures = Before then Write(ErrOutput, 'ok   ') else Write(ErrOutput, 'FAIL ');
  WriteLn(ErrOutput, Name, ' (', Round((Now - Started) * 86400000), ' ms)');
end;

type
  THost = class
    Follow, RaiseInOpenUrl, RaiseInLog: Boolean;
    Opened, Logged, TokenEvents: Integer;
    OpenThread, TokenThread: TThreadID;
    LogOffMain, LogOnMain: Integer;
    LastToken: string;
    procedure OpenUrl(Sender: TObject; const Url: string; var Opened_: Boolean);
    procedure Log(Sender: TObject; Level: Cardinal; const Msg: string);
    procedure TokenChanged(Sender: TObject; const Token: string);
  end;

procedure THost.OpenUrl(Sender: TObject; const Url: string; var Opened_: Boolean);
begin
  Inc(Opened);
  OpenThread := GetCurrentThreadId;
  if RaiseInOpenUrl then raise EInvalidOperation.Create('no browser in this event');
  if Follow then
    fpSystem(OAuthMailToUtf8('curl -s -o /dev/null -L --max-time 20 --cacert ''' + CaFile + ''' ''' + Url + ''' &'));
end;

procedure THost.Log(Sender: TObject; Level: Cardinal; const Msg: string);
begin
  InterLockedIncrement(Logged);
  if GetCurrentThreadId = MainThreadID then InterLockedIncrement(LogOnMain) else InterLockedIncrement(LogOffMain);
  if RaiseInLog then raise Exception.Create('a broken logger');
end;

procedure THost.TokenChanged(Sender: TObject; const Token: string);
begin
  Inc(TokenEvents);
  TokenThread := GetCurrentThreadId;
  LastToken := Token;
end;

function NewMail(Host: THost): TOAuthMail;
begin
  Result := TOAuthMail.Create(nil);
  Result.ConfigFile := ConfigPath;
  Result.OnOpenUrl := Host.OpenUrl;
  Result.OnLog := Host.Log;
  Result.OnTokenChanged := Host.TokenChanged;
  Result.LogLevel := OAUTHMAIL_LOG_DEBUG;
end;

function Subject: string;
begin
  Result := 'Factură nr. 123 [' + Tag + '] — ă â î ș ț Ă Â Î Ș Ț';
end;

{ The message check_mailbox.py expects for tag T, from Sender. }
function TaggedMessage(const T, Sender: string): TOAuthMailMessage;
begin
  Result := TOAuthMailMessage.Create;
  Result.From := 'Firma SRL <' + Sender + '>';
  Result.Recipients.Add('Ion Popescu <ion@example.ro>');
  Result.Subject := 'Factură nr. 123 [' + T + '] — ă â î ș ț Ă Â Î Ș Ț';
  Result.Text := 'Bună ziua,'#10#10'vă trimitem factura în atașament: ă â î ș ț.'#10;
  Result.AddAttachment(Attachment, 'Situație plăți [' + T + '] ăâîșț.txt');
end;

function NewMessage: TOAuthMailMessage;
begin
  Result := TaggedMessage(Tag, User);
end;

{ ---- no library needed ---- }

procedure TestNotInstalledAndTooOld;
begin
  try
    OAuthMailLoad('/nonexistent/dir/' + OAUTHMAIL_LIB);
    Check(False, 'no exception for a missing file');
  except
    on E: EOAuthMailNotInstalled do
    begin
      Check(Pos('/nonexistent/dir/' + OAUTHMAIL_LIB, E.SearchedPaths) > 0, 'path searched: ' + E.SearchedPaths);
      Check(E.VersionFound = '', 'no version found');
      Check(Pos('not installed', E.Message) > 0, 'message: ' + E.Message);
    end;
  end;
  try
    OAuthMailLoad(OldLibrary);  { exports oauthmail_version = "0.0.9" and nothing else }
    Check(False, 'no exception for an old library');
  except
    on E: EOAuthMailNotInstalled do
    begin
      Check(E.VersionFound = '0.0.9', 'version found: ' + E.VersionFound);
      Check(Pos('oauthmail_client_new', E.SearchedPaths) > 0, 'names what is missing: ' + E.SearchedPaths);
    end;
  end;
  Check(not OAuthMailLoaded, 'nothing loaded after the failures');
end;

procedure TestMessageJson;
var
  M: TOAuthMailMessage;
  J: string;
begin
  M := TOAuthMailMessage.Create;
  try
    M.From := 'a@b.ro';
    M.Recipients.Add('Ion "Nelu" Popescu <ion@example.ro>');
    M.Recipients.Add('  ');
    M.CC.Add('c@d.ro');
    M.Subject := 'ș"\';
    M.Html := '<p>ț</p>';
    M.Headers.Add('X-Document-Id=123');
    M.AddAttachment('C:\Facturi\123.pdf');
    M.AddAttachment('/tmp/x.csv', 'date ă.csv', 'text/csv');
    J := M.AsJson;
    Check(J = '{"from": "a@b.ro", "to": ["Ion \"Nelu\" Popescu <ion@example.ro>"], "cc": ["c@d.ro"], ' +
      '"subject": "ș\"\\", "html": "<p>ț</p>", "attachments": [{"path": "C:\\Facturi\\123.pdf"}, ' +
      '{"path": "/tmp/x.csv", "filename": "date ă.csv", "content_type": "text/csv"}], ' +
      '"headers": {"X-Document-Id": "123"}}', 'json: ' + J);
    Check(JsonGetRaw(J, 'cc') = '["c@d.ro"]', 'raw array');
    Check(JsonGetRaw(J, 'headers') = '{"X-Document-Id": "123"}', 'raw object');
    Check(JsonGetRaw(J, 'subject') = '"ș\"\\"', 'raw string');
    Check(M.AttachmentCount = 2, 'attachments');
  finally
    M.Free;
  end;
end;

procedure TestConfigJson;
var
  Mail: TOAuthMail;
  F: TextFile;
  Dir, J: string;
begin
  Dir := GetTempDir(False);
  AssignFile(F, Dir + 'client_secret_test.json');
  Rewrite(F);
  Write(F, '{"installed": {"client_id": "123-abc.apps.googleusercontent.com", "project_id": "p", ' +
    '"auth_uri": "https://accounts.google.com/o/oauth2/auth", "client_secret": "GOCSPX-test"}}');
  CloseFile(F);
  Mail := TOAuthMail.Create(nil);
  try
    Mail.ClientSecretsFile := Dir + 'client_secret_test.json';
    Mail.Transport := 'smtp';
    Mail.StorePath := 'C:\ProgramData\Firma\tokens.json';
    Mail.StoreProtect := 'user';
    Mail.UILanguage := 'ro';
    Mail.Timeouts.AuthorizeSeconds := 120;
    Mail.ExtraConfig := '{"redirect": {"port": 8765}}';
    J := Mail.ConfigJson;
    Check(J = '{"provider": "google", "client_id": "123-abc.apps.googleusercontent.com", ' +
      '"client_secret": "GOCSPX-test", "transport": "smtp", "store": {"path": "C:\\ProgramData\\Firma\\tokens.json", "protect": "user"}, ' +
      '"ui_language": "ro", "timeouts": {"authorize_s": 120}, "redirect": {"port": 8765}}', 'config: ' + J);
    Mail.StorePath := '';
    try
      Mail.ConfigJson;
      Check(False, 'StoreProtect without StorePath accepted');
    except
      on E: EOAuthMail do Check((E.Status = OAUTHMAIL_INVALID_ARGUMENT) and (E.Field = 'StoreProtect'), 'field ' + E.Field);
    end;
    Mail.StoreProtect := '';
    Mail.ClientSecretsFile := '';
    Mail.ServiceAccountFile := '/etc/firma/sa.json';
    Mail.ExtraConfig := '';
    J := Mail.ConfigJson;
    Check(J = '{"provider": "google", "transport": "smtp", "service_account_file": "/etc/firma/sa.json", ' +
      '"ui_language": "ro", "timeouts": {"authorize_s": 120}}', 'service account config: ' + J);
    Mail.ServiceAccountFile := '';
    Mail.ClientSecretsFile := Dir + 'client_secret_test.json';
    Mail.ConfigFile := ConfigPath;  { has client_id too: a conflict, named }
    try
      Mail.ConfigJson;
      Check(False, 'no conflict reported');
    except
      on E: EOAuthMail do Check((E.Status = OAUTHMAIL_INVALID_ARGUMENT) and (E.Field = 'ClientId'), 'conflict field ' + E.Field);
    end;
    Mail.ClientSecretsFile := Dir + 'no-such-file.json';
    Mail.ConfigFile := '';
    try
      Mail.ConfigJson;
      Check(False, 'no error for a missing secrets file');
    except
      on E: EOAuthMail do Check((E.Status = OAUTHMAIL_IO) and (E.Field = 'ClientSecretsFile'), 'missing file field ' + E.Field);
    end;
  finally
    Mail.Free;
    DeleteFile(Dir + 'client_secret_test.json');
  end;
end;

{ ---- against the stand-in ---- }

procedure TestAuthorizeAndSend;
var
  Host: THost;
  Mail: TOAuthMail;
  Msg: TOAuthMailMessage;
  Email: string;
begin
  Host := THost.Create;
  Host.Follow := True;
  Mail := NewMail(Host);
  Msg := NewMessage;
  try
    Email := Mail.Authorize(User);
    Check(Email = User, 'email ' + Email);
    Check(Host.Opened = 1, 'OnOpenUrl once');
    Check(Host.OpenThread = MainThreadID, 'OnOpenUrl on the calling (main) thread');
    Check((Host.TokenEvents = 1) and (Host.LastToken = Mail.Token) and (JsonGetString(Mail.Token, 'email') = User), 'OnTokenChanged with the token');
    Check(Host.Logged > 0, 'OnLog called');
    SentId := Mail.Send(Msg);
    Check(Copy(SentId, 1, 1) = '<', 'message id ' + SentId);
    Check(JsonGetString(Mail.LastResult, 'message_id') = SentId, 'LastResult');
    Mail.Refresh;
    Check(Host.TokenEvents = 2, 'Refresh fires OnTokenChanged');
  finally
    Msg.Free;
    Mail.Free;
    Host.Free;
  end;
end;

procedure TestExceptionInOnOpenUrl;
var
  Host: THost;
  Mail: TOAuthMail;
begin
  Host := THost.Create;
  Host.RaiseInOpenUrl := True;
  Mail := NewMail(Host);
  try
    try
      Mail.Authorize(User);
      Check(False, 'no exception');
    except
      on E: EOAuthMail do
      begin
        Check(E.Status = OAUTHMAIL_CANCELLED, 'status ' + IntToStr(E.Status));
        Check(Pos('no browser in this event', E.Message) > 0, 'names the event''s exception: ' + E.Message);
        Check(Pos('EInvalidOperation', E.Message) > 0, 'and its class: ' + E.Message);
      end;
    end;
    Check(Mail.Token = '', 'no token');
  finally
    Mail.Free;
    Host.Free;
  end;
end;

procedure TestExceptionInOnLog;
var
  Host: THost;
  Mail: TOAuthMail;
  Msg: TOAuthMailMessage;
begin
  Host := THost.Create;
  Host.Follow := True;
  Host.RaiseInLog := True;
  Mail := NewMail(Host);
  Msg := NewMessage;
  try
    Mail.Authorize(User);
    Msg.Subject := 'jurnal stricat ș';
    Check(Copy(Mail.Send(Msg), 1, 1) = '<', 'sent despite OnLog raising');
    Check(Host.Logged > 1, 'OnLog kept being called');
  finally
    Msg.Free;
    Mail.Free;
    Host.Free;
  end;
end;

type
  TWorker = class(TThread)
  public
    Mail: TOAuthMail;
    Email, Error: string;
    ErrorStatus: Cardinal;
    Done: Boolean;
  protected
    procedure Execute; override;
  end;

procedure TWorker.Execute;
begin
  try
    Email := Mail.Authorize(User);
  except
    on E: EOAuthMail do
    begin
      Error := E.Message;
      ErrorStatus := E.Status;
    end;
    on E: Exception do Error := E.ClassName + ': ' + E.Message;
  end;
  Done := True;
end;

function Pump(W: TWorker; Seconds: Integer): Boolean;
var
  I: Integer;
begin
  for I := 1 to Seconds * 20 do
  begin
    CheckSynchronize(50);  { what a GUI's message loop does }
    if W.Done then Break;
  end;
  Result := W.Done;
end;

procedure TestSynchronizeEvents;
var
  Host: THost;
  Mail: TOAuthMail;
  W: TWorker;
begin
  Host := THost.Create;
  Host.Follow := True;
  Mail := NewMail(Host);
  Mail.SynchronizeEvents := True;
  W := TWorker.Create(True);
  try
    W.Mail := Mail;
    W.Start;
    Check(Pump(W, 30), 'authorize on a worker returned');
    W.WaitFor;
    Check(W.Error = '', 'authorize: ' + W.Error);
    Check(W.Email = User, 'email');
    Check(Host.OpenThread = MainThreadID, 'OnOpenUrl ran on the main thread');
    Check(Host.TokenThread = MainThreadID, 'OnTokenChanged ran on the main thread');
    Check((Host.Logged > 0) and (Host.LogOffMain = 0), 'every OnLog on the main thread (' + IntToStr(Host.LogOffMain) + ' off it)');
  finally
    W.Free;
    Mail.Free;
    Host.Free;
  end;
end;

procedure TestCancel;
var
  Host: THost;
  Mail: TOAuthMail;
  W: TWorker;
  I: Integer;
  Started: TDateTime;
begin
  Host := THost.Create;  { "opens" the URL; nobody approves }
  Mail := NewMail(Host);
  W := TWorker.Create(True);
  try
    W.Mail := Mail;
    W.Start;
    for I := 1 to 400 do
    begin
      if Host.Opened > 0 then Break;
      Sleep(50);
    end;
    Check(Host.Opened = 1, 'OnOpenUrl called');
    Sleep(300);
    Started := Now;
    Mail.Cancel;
    for I := 1 to 200 do
    begin
      if W.Done then Break;
      Sleep(50);
    end;
    Check(W.Done, 'authorize returned after Cancel');
    W.WaitFor;
    Check((Now - Started) * 86400 < 5, 'promptly');
    Check(W.ErrorStatus = OAUTHMAIL_CANCELLED, 'cancelled: ' + W.Error);
  finally
    W.Free;
    Mail.Free;
    Host.Free;
  end;
end;


{ ---- check, progress, token store, service account, Microsoft ---- }

{ Check through a token reference. The library's oauthmail_check (0.1.0 as built here) parses
  token_json as a token document only and refuses a reference with INVALID_ARGUMENT, field
  "token" ("missing field `provider`"); the binding passes the reference as the brief's contract
  says, so this accepts either a healthy report with the token steps or exactly that refusal
  (reported to the lead as a library gap), and fails on anything else. }
procedure CheckThroughReference(Mail: TOAuthMail; const What: string);
var
  R: TOAuthMailCheckResult;
  I: Integer;
  HasRefresh: Boolean;
begin
  try
    R := Mail.Check;
    HasRefresh := False;
    for I := 0 to High(R.Steps) do
      if R.Steps[I].Step = 'refresh' then HasRefresh := True;
    Check(R.Ok and HasRefresh, What + ': ' + R.Json);
  except
    on E: EOAuthMail do
    begin
      Check((E.Status = OAUTHMAIL_INVALID_ARGUMENT) and (E.Field = 'token') and (Pos('provider', E.Message) > 0),
        What + ': ' + E.Message);
      WriteLn(ErrOutput, '  note: the library''s check refuses ', What, ' (', E.Message, ')');
    end;
  end;
end;

function StepNamed(const R: TOAuthMailCheckResult; const Name: string): Integer;
var
  I: Integer;
begin
  Result := -1;
  for I := 0 to High(R.Steps) do
    if R.Steps[I].Step = Name then
    begin
      Result := I;
      Exit;
    end;
end;

procedure TestCheck;
var
  Host: THost;
  Mail: TOAuthMail;
  R: TOAuthMailCheckResult;
  Before, I: Integer;
  Good, Rt: string;
begin
  Host := THost.Create;
  Host.Follow := True;
  Mail := NewMail(Host);
  try
    Mail.Authorize(User);
    Before := MailboxCount;
    R := Mail.Check(False);
    Check(R.Ok and (R.Status = OAUTHMAIL_OK) and (R.Failed = -1), 'check without a token: ' + R.Json);
    Check((StepNamed(R, 'config') = 0) and (StepNamed(R, 'client') > 0) and (StepNamed(R, 'refresh') = -1), 'steps without a token');
    R := Mail.Check;
    Check(R.Ok and (R.Failed = -1), 'check with the token: ' + R.Json);
    Check((StepNamed(R, 'refresh') > 0) and (StepNamed(R, 'scopes') > 0) and (StepNamed(R, 'gmail_api') > 0), 'token steps');
    I := StepNamed(R, 'refresh');
    if I >= 0 then Check((R.Steps[I].Target = User) and R.Steps[I].Ok and (R.Steps[I].Detail <> '') and (R.Steps[I].ErrorJson = ''), 'refresh step');
    for I := 0 to High(R.Steps) do Check(R.Steps[I].Ms >= 0, 'ms');
    Check(MailboxCount = Before, 'a check delivers nothing');
    { A dead refresh token: a failed step is a result, with the error a send would raise. }
    Good := Mail.Token;
    Rt := JsonGetString(Good, 'refresh_token');
    Mail.Token := StringReplace(Good, Rt, 'bogus-refresh-token', []);
    R := Mail.Check;
    Check(not R.Ok and (R.Failed >= 0), 'failed check: ' + R.Json);
    if R.Failed >= 0 then
    begin
      Check(R.Steps[R.Failed].Step = 'refresh', 'failed step ' + R.Steps[R.Failed].Step);
      Check((R.Status = OAUTHMAIL_REAUTHORIZE) and (R.Steps[R.Failed].ErrorStatus = OAUTHMAIL_REAUTHORIZE), 'status ' + IntToStr(R.Status));
      Check((R.Steps[R.Failed].Hint <> '') and (R.Steps[R.Failed].HintId <> ''), 'hint and hint id');
      Check(JsonGetString(R.Steps[R.Failed].ErrorJson, 'status') = 'reauthorize', 'error document ' + R.Steps[R.Failed].ErrorJson);
      Check(R.Failed = High(R.Steps), 'the check stops at the failed step');
    end;
    { Bad token JSON is an error document: raised. }
    Mail.Token := '{"access_token": 1';
    try
      Mail.Check;
      Check(False, 'no exception for bad token JSON');
    except
      on E: EOAuthMail do Check(E.Status = OAUTHMAIL_INVALID_ARGUMENT, 'bad token: ' + E.Message);
    end;
    Check(MailboxCount = Before, 'still nothing delivered');
  finally
    Mail.Free;
    Host.Free;
  end;
end;

type
  TProgressHost = class(THost)
    Calls: array of Int64;
    Totals: array of Int64;
    CancelAt, RaiseAt: Integer;  { 1-based call number; 0 = never }
    ProgressThread: TThreadID;
    procedure Progress(Sender: TObject; BytesDone, BytesTotal: Int64; var Cancel: Boolean);
  end;

procedure TProgressHost.Progress(Sender: TObject; BytesDone, BytesTotal: Int64; var Cancel: Boolean);
begin
  SetLength(Calls, Length(Calls) + 1);
  Calls[High(Calls)] := BytesDone;
  SetLength(Totals, Length(Totals) + 1);
  Totals[High(Totals)] := BytesTotal;
  ProgressThread := GetCurrentThreadId;
  if Length(Calls) = RaiseAt then raise EInvalidOperation.Create('the progress bar is gone');
  if Length(Calls) = CancelAt then Cancel := True;
end;

var
  BigFile: string;

{ A few hundred KB attachment, so that the upload reports several times. }
procedure MakeBigFile;
var
  F: TFileStream;
  Buf: array[0..1023] of Byte;
  I: Integer;
begin
  BigFile := GetTempDir(False) + 'oauthmail-big-' + IntToStr(GetProcessID) + '.bin';
  F := TFileStream.Create(BigFile, fmCreate);
  try
    for I := 0 to 599 do
    begin
      FillChar(Buf, SizeOf(Buf), I and $FF);
      F.WriteBuffer(Buf, SizeOf(Buf));
    end;
  finally
    F.Free;
  end;
end;

function BigMessage(const Note: string): TOAuthMailMessage;
begin
  Result := TOAuthMailMessage.Create;
  Result.From := User;
  Result.Recipients.Add('ion@example.ro');
  Result.Subject := 'Progres ' + Note + ' ș [' + Tag + ']';
  Result.Text := 'ă â î ș ț';
  Result.AddAttachment(BigFile, 'mare.bin', 'application/octet-stream');
end;

procedure TestProgress;
var
  Host: TProgressHost;
  Mail: TOAuthMail;
  Msg: TOAuthMailMessage;
  I, Before: Integer;
  Monotonic: Boolean;
begin
  Host := TProgressHost.Create;
  Host.Follow := True;
  Mail := NewMail(Host);
  Msg := BigMessage('complet');
  try
    Mail.Authorize(User);
    Mail.OnProgress := Host.Progress;  { assigned after the client was made: registered by Send }
    Before := MailboxCount;
    Check(Copy(Mail.Send(Msg), 1, 1) = '<', 'sent');
    Check(Length(Host.Calls) >= 2, IntToStr(Length(Host.Calls)) + ' progress calls');
    Monotonic := True;
    for I := 1 to High(Host.Calls) do
      if (Host.Calls[I] < Host.Calls[I - 1]) or (Host.Totals[I] <> Host.Totals[0]) then Monotonic := False;
    Check(Monotonic, 'bytes_done never decreases, the total never changes');
    if Length(Host.Calls) > 0 then
    begin
      Check(Host.Totals[0] > 600 * 1024, 'total ' + IntToStr(Host.Totals[0]) + ' covers the attachment');
      Check(Host.Calls[High(Host.Calls)] = Host.Totals[0], 'ends at the total');
    end;
    Check(Host.ProgressThread = MainThreadID, 'OnProgress on the calling thread');
    Check(MailboxCount = Before + 1, 'delivered once');
  finally
    Msg.Free;
    Mail.Free;
    Host.Free;
  end;
end;

procedure TestProgressCancelAndRaise;
var
  Host: TProgressHost;
  Mail: TOAuthMail;
  Msg: TOAuthMailMessage;
  Before: Integer;
begin
  Host := TProgressHost.Create;
  Host.Follow := True;
  Mail := NewMail(Host);
  Mail.OnProgress := Host.Progress;
  Msg := BigMessage('anulat');
  try
    Mail.Authorize(User);
    Before := MailboxCount;
    Host.CancelAt := 1;
    try
      Mail.Send(Msg);
      Check(False, 'no exception after Cancel := True');
    except
      on E: EOAuthMail do Check((E.Status = OAUTHMAIL_CANCELLED) and (E.Cause = nil), 'cancelled: ' + E.Message);
    end;
    Host.CancelAt := 0;
    Host.Calls := nil;
    Host.Totals := nil;
    Host.RaiseAt := 2;
    try
      Mail.Send(Msg);
      Check(False, 'no exception after OnProgress raised');
    except
      on E: EOAuthMail do
      begin
        Check(E.Status = OAUTHMAIL_CANCELLED, 'status ' + IntToStr(E.Status));
        Check(Pos('the progress bar is gone', E.Message) > 0, 'names the handler''s exception: ' + E.Message);
        Check(Pos('EInvalidOperation', E.Message) > 0, 'and its class: ' + E.Message);
        Check((E.Cause <> nil) and (E.Cause is EInvalidOperation) and (E.Cause.Message = 'the progress bar is gone'), 'Cause is the handler''s exception');
      end;
    end;
    Check(Length(Host.Calls) = 2, 'no call after the handler raised (' + IntToStr(Length(Host.Calls)) + ')');
    Check(MailboxCount = Before, 'nothing delivered');
    Host.RaiseAt := 0;
    Check(Copy(Mail.Send(Msg), 1, 1) = '<', 'the next send goes through');
    Check(MailboxCount = Before + 1, 'that one delivered');
  finally
    Msg.Free;
    Mail.Free;
    Host.Free;
  end;
end;

type
  TSendWorker = class(TThread)
  public
    Mail: TOAuthMail;
    Msg: TOAuthMailMessage;
    Id, Error: string;
    Done: Boolean;
  protected
    procedure Execute; override;
  end;

procedure TSendWorker.Execute;
begin
  try
    Id := Mail.Send(Msg);
  except
    on E: Exception do Error := E.ClassName + ': ' + E.Message;
  end;
  Done := True;
end;

procedure TestProgressSynchronized;
var
  Host: TProgressHost;
  Mail: TOAuthMail;
  W: TSendWorker;
  I: Integer;
begin
  Host := TProgressHost.Create;
  Host.Follow := True;
  Mail := NewMail(Host);
  Mail.OnProgress := Host.Progress;
  Mail.SynchronizeEvents := True;
  W := TSendWorker.Create(True);
  W.Msg := BigMessage('sincronizat');
  try
    Mail.Authorize(User);
    W.Mail := Mail;
    W.Start;
    for I := 1 to 600 do
    begin
      CheckSynchronize(50);
      if W.Done then Break;
    end;
    Check(W.Done, 'send on a worker returned');
    W.WaitFor;
    Check((W.Error = '') and (Copy(W.Id, 1, 1) = '<'), 'sent: ' + W.Error);
    Check((Length(Host.Calls) >= 2) and (Host.ProgressThread = MainThreadID), 'OnProgress ran on the main thread');
  finally
    W.Msg.Free;
    W.Free;
    Mail.Free;
    Host.Free;
  end;
end;

function InList(const L: TOAuthMailAccounts; const Account: string): Integer;
var
  I: Integer;
begin
  Result := -1;
  for I := 0 to High(L) do
    if LowerCase(L[I].Account) = LowerCase(Account) then Result := I;
end;

procedure TestStore;
const
  StoreUser = 'erp.test@gmail.com';
var
  Host: THost;
  First, Mail: TOAuthMail;
  Msg: TOAuthMailMessage;
  StoreConfig, Id: string;
  L: TOAuthMailAccounts;
  K: Integer;
begin
  StoreConfig := OAuthMailReadFile(Env('OAUTHMAIL_TEST_CONFIG_STORE'));
  Host := THost.Create;
  Host.Follow := True;
  First := NewMail(Host);
  Mail := NewMail(Host);
  Msg := TaggedMessage(Tag + '-store', StoreUser);
  try
    { Authorize on the store configuration file: the token goes into the store. }
    First.ConfigFile := Env('OAUTHMAIL_TEST_CONFIG_STORE');
    Check(First.Authorize(StoreUser) = StoreUser, 'authorized');
    { A second component reaches the same store through StorePath / StoreProtect. }
    Mail.StorePath := JsonGetString(JsonGetRaw(StoreConfig, 'store'), 'path');
    Mail.StoreProtect := 'none';
    Mail.Account := StoreUser;
    Check(Pos('"store": {"path": ', Mail.ConfigJson) > 0, 'store in the config');
    L := Mail.StoreList;
    K := InList(L, StoreUser);
    Check(K >= 0, 'listed after authorize');
    if K >= 0 then
    begin
      Check(L[K].Provider = 'google', 'provider ' + L[K].Provider);
      Check(Pos('gmail.send', L[K].Scope) > 0, 'scope ' + L[K].Scope);
      Check(Abs(L[K].AuthorizedAt - (Round((Now - EncodeDate(1970, 1, 1)) * 86400) - GetLocalTimeOffset * 60)) < 3600 * 24, 'authorized_at ' + IntToStr(L[K].AuthorizedAt));
      Check(L[K].ExpiresAt > L[K].AuthorizedAt, 'expires_at');
    end;
    Id := Mail.Send(Msg);
    Check(Copy(Id, 1, 1) = '<', 'sent through {"account": ...}');
    Check(Pos('"token"', Mail.LastResult) = 0, 'no token in the result');
    Check(Mail.Token = '', 'Token untouched');
    Verify(Tag + '-store', StoreUser, 'gmail_api', Id);
    CheckThroughReference(Mail, 'Check with {"account": ...}');
    Mail.Refresh;
    Check(Mail.Token = '', 'Refresh through the account keeps Token empty');
    Check(Mail.StoreRemove(StoreUser), 'removed');
    Check(InList(Mail.StoreList, StoreUser) < 0, 'gone from the list');
    Check(not Mail.StoreRemove(StoreUser), 'removing again: False');
    try
      Mail.Send(Msg);
      Check(False, 'sent for a removed account');
    except
      on E: EOAuthMail do Check((E.Status = OAUTHMAIL_INVALID_ARGUMENT) and (E.Field = 'token.account'), 'removed account: field ' + E.Field);
    end;
    Mail.StorePath := '';
    Mail.StoreProtect := '';
    try
      Mail.StoreList;
      Check(False, 'StoreList without a store');
    except
      on E: EOAuthMail do Check((E.Status = OAUTHMAIL_INVALID_ARGUMENT) and (E.Field = 'config.store'), 'no store: field ' + E.Field);
    end;
  finally
    Msg.Free;
    Mail.Free;
    First.Free;
    Host.Free;
  end;
end;

procedure TestServiceAccount;
var
  Mail: TOAuthMail;
  Msg: TOAuthMailMessage;
  Sa, SaSubject, Id: string;
begin
  Sa := OAuthMailReadFile(Env('OAUTHMAIL_TEST_CONFIG_SA'));
  SaSubject := Env('OAUTHMAIL_TEST_SA_SUBJECT');
  Mail := TOAuthMail.Create(nil);
  Msg := TaggedMessage(Tag + '-sa', SaSubject);
  try
    { From the properties, not the file: ServiceAccountFile, Transport, ExtraCAFile. }
    Mail.ServiceAccountFile := JsonGetString(Sa, 'service_account_file');
    Mail.Transport := 'gmail_api';
    Mail.ExtraCAFile := JsonGetString(Sa, 'extra_ca_file');
    Mail.ExtraConfig := '{"endpoints": ' + JsonGetRaw(Sa, 'endpoints') + '}';
    Mail.Timeouts.ConnectSeconds := 10;
    Mail.Timeouts.IOSeconds := 20;
    try
      Mail.Authorize(SaSubject);
      Check(False, 'authorize with a service account');
    except
      on E: EOAuthMail do Check((E.Status = OAUTHMAIL_INVALID_ARGUMENT) and (E.Field = 'config.service_account_file'), 'authorize refused: ' + E.Message);
    end;
    Mail.Subject := SaSubject;
    CheckThroughReference(Mail, 'Check with {"subject": ...}');
    Id := Mail.Send(Msg);
    Check(Copy(Id, 1, 1) = '<', 'sent as the subject');
    Verify(Tag + '-sa', SaSubject, 'gmail_api', Id);
    Mail.Account := 'x@y.ro';
    try
      Mail.Send(Msg);
      Check(False, 'Account and Subject both accepted');
    except
      on E: EOAuthMail do Check(E.Field = 'Subject', 'both: field ' + E.Field);
    end;
  finally
    Msg.Free;
    Mail.Free;
  end;
end;

procedure TestMicrosoft;
var
  Host: THost;
  Graph, Smtp: TOAuthMail;
  Msg: TOAuthMailMessage;
  MsUser, Cfg, Id, Old, New_: string;
begin
  MsUser := Env('OAUTHMAIL_TEST_MS_USER');
  Host := THost.Create;
  Host.Follow := True;
  Graph := NewMail(Host);
  Smtp := NewMail(Host);
  Msg := nil;
  try
    { Graph: the whole configuration from the file. }
    Graph.ConfigFile := Env('OAUTHMAIL_TEST_CONFIG_MS_GRAPH');
    Check(Graph.Authorize(MsUser) = MsUser, 'authorized (Graph)');
    Msg := TaggedMessage(Tag + '-ms-graph', MsUser);
    Id := Graph.Send(Msg);
    Check(Copy(Id, 1, 1) = '<', 'sent through Graph');
    Verify(Tag + '-ms-graph', MsUser, 'graph', Id);
    FreeAndNil(Msg);
    { SMTP: Provider, ClientId (a public client: no secret) and Transport as properties. }
    Cfg := OAuthMailReadFile(Env('OAUTHMAIL_TEST_CONFIG_MS_SMTP'));
    Smtp.ConfigFile := '';
    Smtp.Provider := 'microsoft';
    Smtp.ClientId := JsonGetString(Cfg, 'client_id');
    Smtp.Transport := 'smtp';
    Smtp.ExtraCAFile := JsonGetString(Cfg, 'extra_ca_file');
    Smtp.ExtraConfig := '{"endpoints": ' + JsonGetRaw(Cfg, 'endpoints') + '}';
    Smtp.Timeouts.AuthorizeSeconds := 30;
    Check(Smtp.Authorize(MsUser) = MsUser, 'authorized (SMTP)');
    Msg := TaggedMessage(Tag + '-ms-smtp', MsUser);
    Id := Smtp.Send(Msg);
    Check(Copy(Id, 1, 1) = '<', 'sent through Outlook SMTP');
    Verify(Tag + '-ms-smtp', MsUser, 'outlook_smtp', Id);
    { Microsoft rotates the refresh token: the new one differs and the old one is dead. }
    Old := Graph.Token;
    Graph.Refresh;
    New_ := Graph.Token;
    Check((JsonGetString(New_, 'refresh_token') <> '') and (JsonGetString(New_, 'refresh_token') <> JsonGetString(Old, 'refresh_token')), 'rotated');
    Graph.Token := Old;
    try
      Graph.Refresh;
      Check(False, 'the old refresh token still works');
    except
      on E: EOAuthMail do Check(E.Status = OAUTHMAIL_REAUTHORIZE, 'old token: ' + E.Message);
    end;
    Graph.Token := New_;
    Graph.Revoke;
    Check((JsonGetRaw(Graph.LastResult, 'revoked') = 'false') and (JsonGetRaw(Graph.LastResult, 'forgotten') = 'true'), 'revoke: ' + Graph.LastResult);
    Check(Graph.Token = '', 'Token cleared');
  finally
    Msg.Free;
    Smtp.Free;
    Graph.Free;
    Host.Free;
  end;
end;

var
  I: Integer;
begin
  if ParamCount <> 4 then
  begin
    WriteLn(ErrOutput, 'usage: test_component CONFIG.json LOGIN_HINT ATTACHMENT OLD_LIBRARY');
    Halt(2);
  end;
  ConfigPath := ParamStr(1);
  User := ParamStr(2);
  Attachment := ParamStr(3);
  OldLibrary := ParamStr(4);
  CaFile := GetEnvironmentVariable('OAUTHMAIL_TEST_CA');
  Run('a missing or too old library raises EOAuthMailNotInstalled (path, version found)', TestNotInstalledAndTooOld);
  Run('TOAuthMailMessage.AsJson and JsonGetRaw', TestMessageJson);
  Run('ConfigJson from the properties, ClientSecretsFile, conflicts named', TestConfigJson);
  Run('TOAuthMail authorizes and sends, events on the calling thread', TestAuthorizeAndSend);
  Run('an exception in OnOpenUrl makes Authorize raise EOAuthMail CANCELLED naming it', TestExceptionInOnOpenUrl);
  Run('an exception in OnLog is contained', TestExceptionInOnLog);
  Run('SynchronizeEvents: a worker''s events run on the main thread', TestSynchronizeEvents);
  Run('Cancel from the main thread ends a worker''s Authorize', TestCancel);
  Verify(Tag, User, 'gmail_api', SentId);
  Run('Check: a typed report, a failed step is a result, bad token JSON raises, nothing delivered', TestCheck);
  MakeBigFile;
  Run('OnProgress: monotonic, ends at the total, on the calling thread', TestProgress);
  Run('OnProgress: Cancel := True and an exception both cancel cleanly (Cause), nothing delivered', TestProgressCancelAndRaise);
  Run('OnProgress with SynchronizeEvents: a worker''s send reports on the main thread', TestProgressSynchronized);
  DeleteFile(BigFile);
  Run('token store: StorePath/StoreProtect, Account sends/checks/refreshes, StoreList, StoreRemove', TestStore);
  Run('service account: ServiceAccountFile, no Authorize, Subject checks and sends', TestServiceAccount);
  Run('Microsoft 365: Graph and Outlook SMTP, rotating refresh, revoke forgets', TestMicrosoft);
  WriteLn(ErrOutput, Tag, ': ', Checks, ' checks, ', Failures, ' failed; loaded from ', OAuthMailLibraryPath);
  if Failures > 0 then Halt(1);
  for I := 0 to High(Sent) do WriteLn(Sent[I]);
end.
