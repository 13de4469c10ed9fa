{ Tests of the Pascal unit with Free Pascal, compiled twice: -Mdelphi (string = AnsiString) and
  -Mdelphiunicode (string = UnicodeString, as in Delphi 2009+). `test_oauthmail basic` runs the
  tests that need only the library; `test_oauthmail older BASE_LIBRARY` loads base_library.c's
  build (only the required functions) and checks that the optional ones raise
  EOAuthMailNotInstalled when called; without an argument the tests against the local Google stand-in
  (--auto-approve) run too, configured by the environment: OAUTHMAIL_TEST_CONFIG (client
  configuration file), OAUTHMAIL_TEST_USER, OAUTHMAIL_TEST_CA; OAUTHMAIL_REPO is the checkout. }
program test_oauthmail;

{$IFDEF UNICODE}{$CODEPAGE UTF8}{$ENDIF}  { the string literals below are UTF-8 }

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}  { FIRST: callbacks run on threads the library creates }
  SysUtils, Classes, {$IFDEF UNIX}Unix,{$ENDIF} OAuthMail;

var
  Failures: Integer = 0;
  Checks: Integer = 0;
  Lock: TRTLCriticalSection;

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
  if Failures = Before then WriteLn('ok   ', Name) else WriteLn('FAIL ', Name);
end;

function Env(const Name: string): string;
begin
  Result := GetEnvironmentVariable(Name);
  if Result = '' then raise Exception.Create(Name + ' is not set (run scripts/test.d/50-bindings.sh)');
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

const
  GoodConfig = '{"provider": "google", "client_id": "id", "client_secret": "s"}';

{ ---- tests that need only the library ---- }

procedure TestVersion;
begin
  Check(Pos('#define OAUTHMAIL_VERSION_STRING "' + OAuthMailVersion + '"',
    ReadUtf8File(Env('OAUTHMAIL_REPO') + '/include/oauthmail.h')) > 0, 'version ' + OAuthMailVersion);
end;

procedure TestStatusNames;
const
  Names: array[0..14] of string = ('ok', 'invalid_argument', 'cancelled', 'timeout', 'access_denied',
    'reauthorize', 'insufficient_scope', 'auth_failed', 'network', 'tls', 'rate_limited', 'rejected',
    'provider', 'io', 'internal');
var
  I: Integer;
begin
  for I := 0 to 14 do Check(OAuthMailStatusName(I) = Names[I], Names[I]);
  Check(OAuthMailStatusName(4242) = 'unknown', 'unknown');
end;

procedure TestEmptyClientId;
begin
  try
    TOAuthMailClient.Create('{"provider": "google", "client_id": "", "client_secret": "s"}').Free;
    Check(False, 'no exception');
  except
    on E: EOAuthMail do
    begin
      Check(E.Status = OAUTHMAIL_INVALID_ARGUMENT, 'status');
      Check(E.StatusName = 'invalid_argument', 'name');
      Check(E.Field = 'config.client_id', 'field ' + E.Field);
      Check(JsonGetString(E.ErrorJson, 'status') = 'invalid_argument', 'document');
      Check((E.Hint <> '') and (Pos('config.client_id', E.Message) > 0), 'message');
    end;
  end;
end;

procedure TestDiacriticsField;
begin
  try
    TOAuthMailClient.Create('{"provider": "google", "client_id": "x", "câmp_ș": 1}').Free;
    Check(False, 'no exception');
  except
    on E: EOAuthMail do
    begin
      Check(E.Status = OAUTHMAIL_INVALID_ARGUMENT, 'status');
      Check(E.Field = 'config.câmp_ș', 'field');
      Check(Length(OAuthMailToUtf8(E.Field)) = 15, 'UTF-8 length of the field');  { â and ș: 2 bytes each }
    end;
  end;
end;

procedure TestNullConfig;
var
  H: Pointer;
  OutJson: PAnsiChar;
  St: Cardinal;
  Doc: string;
begin
  H := Pointer(1);
  OutJson := nil;
  St := oauthmail_client_new(nil, H, OutJson);
  Doc := OAuthMailPCharToString(OutJson);
  oauthmail_string_free(OutJson);
  Check(St = OAUTHMAIL_INVALID_ARGUMENT, 'status');
  Check(H = nil, 'no handle');
  Check(JsonGetString(Doc, 'field') = 'config', 'field');
end;

procedure TestInvalidUtf8;
var
  H: Pointer;
  OutJson: PAnsiChar;
  St: Cardinal;
  Doc: string;
  Raw: AnsiString;
begin
  { Set the byte directly: concatenating AnsiChar($FF) converts it through a code page. }
  Raw := '{"provider": "google", "client_id": "?"}';
  Raw[38] := AnsiChar($FF);
  OutJson := nil;
  St := oauthmail_client_new(PAnsiChar(Raw), H, OutJson);
  Doc := OAuthMailPCharToString(OutJson);
  oauthmail_string_free(OutJson);
  Check(St = OAUTHMAIL_INVALID_ARGUMENT, 'status');
  Check(JsonGetString(Doc, 'field') = 'config', 'field');
  Check(Pos('UTF-8', JsonGetString(Doc, 'message')) > 0, 'message');
end;

procedure TestEmbeddedNul;
begin
  try
    TOAuthMailClient.Create('{"provider": "google", "client_id": "x'#0'"}').Free;
    Check(False, 'no exception');
  except
    on E: EOAuthMail do Check((E.Status = OAUTHMAIL_INVALID_ARGUMENT) and (E.Field = 'config'), 'field ' + E.Field);
  end;
end;

type
  TNop = class
    function OpenUrl(const Url: string): Boolean;
    procedure Log(Level: Cardinal; const Msg: string);
  end;

function TNop.OpenUrl(const Url: string): Boolean;
begin
  Result := True;
end;

procedure TNop.Log(Level: Cardinal; const Msg: string);
begin
end;

procedure TestCallbacksRegister;
var
  C: TOAuthMailClient;
  N: TNop;
begin
  N := TNop.Create;
  C := TOAuthMailClient.Create(GoodConfig);
  try
    C.SetUrlOpener(N.OpenUrl);
    C.SetLogger(N.Log, OAUTHMAIL_LOG_TRACE);
    C.SetUrlOpener(nil);
    C.SetLogger(nil);
    C.SetLogger(N.Log);
    C.Cancel;  { nothing in flight: harmless }
    Check(C.Handle <> nil, 'handle');
  finally
    C.Free;
    N.Free;
  end;
end;

{ UTF-8 bytes, set one by one (#$C8 literals would be WideChars in -Mdelphiunicode). }
function Bytes(const B: array of Byte): TOAuthMailUtf8;
var
  I: Integer;
begin
  SetLength(Result, Length(B));
  for I := 0 to High(B) do Result[I + 1] := AnsiChar(B[I]);
end;

procedure TestJsonHelpers;
var
  S, Doc: string;
begin
  S := 'a"b\c'#10'd'#1' ș ț';
  Doc := '{"k": ' + JsonQuote(S) + ', "u": "\u0219\ud83d\udce7", "n": 1}';
  Check(JsonGetString(Doc, 'k') = S, 'k');
  Check(OAuthMailToUtf8(JsonGetString(Doc, 'u')) = Bytes([$C8, $99, $F0, $9F, $93, $A7]), 'u');
  Check(JsonGetString(Doc, 'n', 'none') = 'none', 'n');
end;

{ ---- tests against the stand-in ---- }

type
  THost = class
    CaFile: string;
    Follow: Boolean;
    OpenerThreads: array of TThreadID;
    LoggerThreads: array of TThreadID;
    Opened: Integer;
    RaiseInOpener: Boolean;
    function OpenUrl(const Url: string): Boolean;
    procedure Log(Level: Cardinal; const Msg: string);
  end;

  TAuthorizeThread = class(TThread)
  public
    Client: TOAuthMailClient;
    Options, Token, Error: string;
    ErrorStatus: Cardinal;
    Done: Boolean;
  protected
    procedure Execute; override;
  end;

function THost.OpenUrl(const Url: string): Boolean;
begin
  EnterCriticalSection(Lock);
  try
    SetLength(OpenerThreads, Length(OpenerThreads) + 1);
    OpenerThreads[High(OpenerThreads)] := GetCurrentThreadId;
    Inc(Opened);
  finally
    LeaveCriticalSection(Lock);
  end;
  if RaiseInOpener then raise Exception.Create('no browser here');
  { A headless "browser": curl follows the stand-in's redirect to the loopback listener. }
  if Follow then
    fpSystem(OAuthMailToUtf8('curl -s -o /dev/null -L --max-time 20 --cacert ''' + CaFile + ''' ''' + Url + ''' &'));
  Result := True;
end;

procedure THost.Log(Level: Cardinal; const Msg: string);
begin
  EnterCriticalSection(Lock);
  try
    SetLength(LoggerThreads, Length(LoggerThreads) + 1);
    LoggerThreads[High(LoggerThreads)] := GetCurrentThreadId;
  finally
    LeaveCriticalSection(Lock);
  end;
end;

procedure TAuthorizeThread.Execute;
begin
  try
    Token := Client.Authorize(Options);
  except
    on E: EOAuthMail do
    begin
      Error := E.Message;
      ErrorStatus := E.Status;
    end;
    on E: Exception do Error := E.Message;
  end;
  Done := True;
end;

var
  StandinConfig, StandinUser, StandinCa: string;

function NewHost(Follow: Boolean): THost;
begin
  Result := THost.Create;
  Result.CaFile := StandinCa;
  Result.Follow := Follow;
end;

function Options: string;
begin
  Result := '{"login_hint": ' + JsonQuote(StandinUser) + '}';
end;

function WaitFor(var Flag: Boolean; Seconds: Integer): Boolean;
var
  I: Integer;
begin
  for I := 1 to Seconds * 20 do
  begin
    if Flag then Break;
    Sleep(50);
  end;
  Result := Flag;
end;

procedure TestCallbacksOffMainThread;
var
  Host: THost;
  C: TOAuthMailClient;
  T: TAuthorizeThread;
  I: Integer;
  MainId: TThreadID;
  Refreshed: string;
begin
  MainId := GetCurrentThreadId;
  Host := NewHost(True);
  C := TOAuthMailClient.Create(StandinConfig);
  T := TAuthorizeThread.Create(True);
  try
    C.SetUrlOpener(Host.OpenUrl);
    C.SetLogger(Host.Log, OAUTHMAIL_LOG_TRACE);
    T.Client := C;
    T.Options := Options;
    T.Start;
    Check(WaitFor(T.Done, 30), 'authorize returned within 30 s');
    T.WaitFor;
    Check(T.Error = '', 'authorize: ' + T.Error);
    Check(JsonGetString(T.Token, 'email') = StandinUser, 'email');
    { Once, on the thread that called Authorize (docs/API.md): the worker, never the main thread. }
    Check((Length(Host.OpenerThreads) = 1) and (Host.OpenerThreads[0] = T.ThreadID) and (Host.OpenerThreads[0] <> MainId),
      'opener ran once, on the authorizing thread');
    Check(T.ThreadID <> MainId, 'worker is not main');
    Check(Length(Host.LoggerThreads) > 0, 'logger called');
    for I := 0 to High(Host.LoggerThreads) do Check(Host.LoggerThreads[I] <> MainId, 'logger off the main thread');
    Refreshed := C.Refresh(T.Token);
    Check(JsonGetString(Refreshed, 'refresh_token') = JsonGetString(T.Token, 'refresh_token'), 'refresh keeps the refresh token');
  finally
    T.Free;
    C.Free;
    Host.Free;
  end;
end;

procedure TestCancelFromAnotherThread;
var
  Host: THost;
  C: TOAuthMailClient;
  T: TAuthorizeThread;
  I: Integer;
  Started: TDateTime;
begin
  Host := NewHost(False);  { "opens" the URL; nobody ever approves }
  C := TOAuthMailClient.Create(StandinConfig);
  T := TAuthorizeThread.Create(True);
  try
    C.SetUrlOpener(Host.OpenUrl);
    T.Client := C;
    T.Options := Options;
    T.Start;
    for I := 1 to 400 do
    begin
      if Host.Opened > 0 then Break;
      Sleep(50);
    end;
    Check(Host.Opened = 1, 'the url opener was called');
    Sleep(300);
    Started := Now;
    C.Cancel;
    Check(WaitFor(T.Done, 10), 'authorize returned after cancel');
    T.WaitFor;
    Check((Now - Started) * 86400 < 5, 'promptly');
    Check(T.ErrorStatus = OAUTHMAIL_CANCELLED, 'cancelled: ' + T.Error);
  finally
    T.Free;
    C.Free;
    Host.Free;
  end;
end;

procedure TestOpenerRaises;
var
  Host: THost;
  C: TOAuthMailClient;
begin
  Host := NewHost(False);
  Host.RaiseInOpener := True;
  C := TOAuthMailClient.Create(StandinConfig);
  try
    C.SetUrlOpener(Host.OpenUrl);
    try
      C.Authorize(Options);
      Check(False, 'no exception');
    except
      on E: EOAuthMail do
      begin
        Check(E.Status = OAUTHMAIL_CANCELLED, 'status ' + IntToStr(E.Status));
        Check(Pos('no browser here', E.Message) > 0, 'message names the opener''s exception: ' + E.Message);
      end;
    end;
  finally
    C.Free;
    Host.Free;
  end;
end;

procedure TestInvalidRecipient;
var
  Host: THost;
  C: TOAuthMailClient;
  Token: string;
begin
  Host := NewHost(True);
  C := TOAuthMailClient.Create(StandinConfig);
  try
    C.SetUrlOpener(Host.OpenUrl);
    Token := C.Authorize(Options);
    try
      C.Send(Token, '{"from": ' + JsonQuote(StandinUser) +
        ', "to": ["ion@example.ro", "not an address"], "subject": "x", "text": "y"}');
      Check(False, 'no exception');
    except
      on E: EOAuthMail do
        Check((E.Status = OAUTHMAIL_INVALID_ARGUMENT) and (E.Field = 'message.to[1]'), 'field ' + E.Field);
    end;
  finally
    C.Free;
    Host.Free;
  end;
end;

{ ---- a library without the optional functions (base_library.c) ---- }

type
  TNopProgress = class
    procedure Progress(BytesDone, BytesTotal: Int64; var Cancel: Boolean);
  end;

procedure TNopProgress.Progress(BytesDone, BytesTotal: Int64; var Cancel: Boolean);
begin
end;

procedure ExpectMissing(const Fn: string; Call: Integer; C: TOAuthMailClient);
var
  P: TNopProgress;
begin
  P := TNopProgress.Create;
  try
    try
      case Call of
        0: C.Check('');
        1: C.SetProgress(P.Progress);
        2: C.StoreList;
        3: C.StoreRemove('a@b.ro');
      end;
      Check(False, Fn + ': no exception');
    except
      on E: EOAuthMailNotInstalled do
      begin
        Check(E.VersionFound = '0.1.0', Fn + ': version found ' + E.VersionFound);
        Check((Pos(Fn, E.Message) > 0) and (Pos('0.1.0', E.Message) > 0), Fn + ': message ' + E.Message);
        Check(Pos(Fn, E.SearchedPaths) > 0, Fn + ': searched ' + E.SearchedPaths);
      end;
    end;
  finally
    P.Free;
  end;
end;

procedure TestOlderLibrary;
var
  C: TOAuthMailClient;
begin
  OAuthMailLoad(ParamStr(2));
  Check(OAuthMailLoaded and (OAuthMailLibraryPath = ParamStr(2)), 'the base library loads: the new functions are optional');
  C := TOAuthMailClient.Create(GoodConfig);
  try
    ExpectMissing('oauthmail_check', 0, C);
    ExpectMissing('oauthmail_client_set_progress', 1, C);
    ExpectMissing('oauthmail_store_list', 2, C);
    ExpectMissing('oauthmail_store_remove', 3, C);
    try
      C.Refresh('{}');  { the required functions still work: the stub answers "internal" }
      Check(False, 'no exception from the stub');
    except
      on E: EOAuthMail do Check(E.Status = OAUTHMAIL_INTERNAL, 'stub status ' + IntToStr(E.Status));
    end;
  finally
    C.Free;
  end;
end;

begin
  InitCriticalSection(Lock);
  if ParamStr(1) = 'older' then
  begin
    Run('a library without the optional functions loads; calling one raises EOAuthMailNotInstalled', TestOlderLibrary);
    WriteLn('older library: ', Checks, ' checks, ', Failures, ' failed');
    if Failures > 0 then Halt(1);
    Halt(0);
  end;
  Run('version matches the header', TestVersion);
  Run('status names follow the contract', TestStatusNames);
  Run('empty client_id raises EOAuthMail INVALID_ARGUMENT naming config.client_id', TestEmptyClientId);
  Run('unknown field with diacritics comes back as UTF-8', TestDiacriticsField);
  Run('NULL config is INVALID_ARGUMENT from the C API', TestNullConfig);
  Run('invalid UTF-8 config is INVALID_ARGUMENT naming config', TestInvalidUtf8);
  Run('embedded NUL is refused, not truncated', TestEmbeddedNul);
  Run('callbacks register and reset', TestCallbacksRegister);
  Run('json helpers quote and read back escapes and non-ASCII', TestJsonHelpers);
  if ParamStr(1) <> 'basic' then
  begin
    try
      StandinConfig := ReadUtf8File(Env('OAUTHMAIL_TEST_CONFIG'));
      StandinUser := Env('OAUTHMAIL_TEST_USER');
      StandinCa := Env('OAUTHMAIL_TEST_CA');
      Run('callbacks run off the main thread while authorize runs on a worker', TestCallbacksOffMainThread);
      Run('cancel from another thread ends a waiting authorize', TestCancelFromAnotherThread);
      Run('a url opener that raises makes authorize fail with CANCELLED', TestOpenerRaises);
      Run('invalid recipient raises INVALID_ARGUMENT naming message.to[1]', TestInvalidRecipient);
    except
      on E: Exception do
      begin
        Inc(Failures);
        WriteLn(ErrOutput, 'stand-in tests: ', E.Message);
      end;
    end;
  end;
  DoneCriticalSection(Lock);
  WriteLn({$IFDEF UNICODE}'pascal-unicode'{$ELSE}'pascal-ansi'{$ENDIF}, ': ', Checks, ' checks, ', Failures, ' failed');
  if Failures > 0 then Halt(1);
end.
