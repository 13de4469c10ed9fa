{ Tests of TOAuthMail, TOAuthMailMessage and the dynamic loading, with Free Pascal in -Mdelphi and
  -Mdelphiunicode. Arguments: CONFIG.json LOGIN_HINT ATTACHMENT_PATH OLD_LIBRARY. Sends one
  message through the component (printed last: its Message-ID, for check_mailbox.py, tag
  pascal-component-ansi / pascal-component-unicode); OAUTHMAIL_TEST_CA is the stand-in's CA. }
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
begin
  Before := Failures;
  try
    Test;
  except
    on E: Exception do
    begin
      Inc(Failures);
      WriteLn(ErrOutput, '  unexpected ', E.ClassName, ': ', E.Message);
    end;
  end;
  if Failures = Before then WriteLn(ErrOutput, 'ok   ', Name) else WriteLn(ErrOutput, 'FAIL ', Name);
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

function NewMessage: TOAuthMailMessage;
begin
  Result := TOAuthMailMessage.Create;
  Result.From := 'Firma SRL <' + User + '>';
  Result.Recipients.Add('Ion Popescu <ion@example.ro>');
  Result.Subject := Subject;
  Result.Text := 'Bună ziua,'#10#10'vă trimitem factura în atașament: ă â î ș ț.'#10;
  Result.AddAttachment(Attachment, 'Situație plăți [' + Tag + '] ăâîșț.txt');
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
    Mail.UILanguage := 'ro';
    Mail.Timeouts.AuthorizeSeconds := 120;
    Mail.ExtraConfig := '{"redirect": {"port": 8765}}';
    J := Mail.ConfigJson;
    Check(J = '{"provider": "google", "client_id": "123-abc.apps.googleusercontent.com", ' +
      '"client_secret": "GOCSPX-test", "transport": "smtp", "store": "C:\\ProgramData\\Firma\\tokens.json", ' +
      '"ui_language": "ro", "timeouts": {"authorize_s": 120}, "redirect": {"port": 8765}}', 'config: ' + J);
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
  WriteLn(ErrOutput, Tag, ': ', Checks, ' checks, ', Failures, ' failed; loaded from ', OAuthMailLibraryPath);
  if Failures > 0 then Halt(1);
  WriteLn(SentId);
end.
