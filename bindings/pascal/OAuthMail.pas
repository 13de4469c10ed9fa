(* OAuthMail.pas: liboauthmail for Delphi and Free Pascal.

  Compilers:
  - Delphi 2009 and later (string = UnicodeString), 32- and 64-bit Windows: the main target.
  - Free Pascal 3.2 with -Mdelphi (string = AnsiString holding UTF-8) and -Mdelphiunicode (string
    = UnicodeString); tested on Linux in CI.
  - Delphi 7 .. 2007 (string = AnsiString in the ANSI code page): the {$IFNDEF UNICODE} branches
    convert between the ANSI code page and UTF-8 through WideString. Real Delphi 7 is not
    available here; CI compiles and runs these branches with FPC -Mdelphi and
    -dOAUTHMAIL_MODEL_DELPHI7 (see bindings/README.md, "Delphi 7").

  The library is loaded on first use (LoadLibrary + GetProcAddress), never at program start: a
  program that never sends mail runs on a machine without the DLL. A missing or too old library
  raises EOAuthMailNotInstalled (SearchedPaths, VersionFound). Where it is looked for: the path
  given to OAuthMailLoad(Path) if the program calls it first; else $OAUTHMAIL_LIBRARY when set;
  else the program's own folder; else the system's search (Windows: the EXE's folder first; Unix:
  LD_LIBRARY_PATH, the EXE's rpath, ldconfig).

  Two levels:
  - TOAuthMail, a non-visual TComponent (properties, events, methods; TOAuthMailMessage builds the
    message, so no JSON is written by hand):
      OAuthMail1.ClientSecretsFile := 'client_secret.json';     // or ClientId / ClientSecret
      OAuthMail1.Authorize('office@firma.ro');                   // opens the browser, waits
      SaveProtected(OAuthMail1.Token);                           // reload it into Token next time
      Msg := TOAuthMailMessage.Create;
      Msg.From := 'Firma SRL <office@firma.ro>'; Msg.Recipients.Add('ion@example.ro');
      Msg.Subject := 'Factură nr. 123'; Msg.Text := 'Bună ziua'; Msg.AddAttachment('C:\Facturi\123.pdf');
      OAuthMail1.Send(Msg);                                      // raises EOAuthMail
    With a token store (StorePath) set Account instead of keeping Token; with a Workspace service
    account (ServiceAccountFile) set Subject. Check runs the pre-flight check (a typed report),
    OnProgress reports uploads, StoreList/StoreRemove manage the store.
  - TOAuthMailClient, a thin client over the C API: documents are JSON text in and out
    (docs/API.md in the repository); JsonQuote, JsonGetString and JsonGetRaw help.
  A failed call raises EOAuthMail (Status, StatusName, ErrorJson, Field, Hint, HintId).

  Threads: both classes may be used from several threads at once; Cancel from any thread. The url
  opener (OnOpenUrl) runs on the thread that called Authorize, the progress handler (OnProgress)
  on the thread that called Send; the logger (OnLog) may run on threads the library created. TOAuthMail.SynchronizeEvents moves its events to the main thread.

  Interop rules this unit follows (each one breaks real hosts when ignored):
  - cdecl on every import and callback: Delphi's default is "register", and stdcall is wrong too.
  - Strings cross as NUL-terminated UTF-8: UTF8Encode/UTF8ToString (Unicode compilers) or
    UTF8Encode(WideString(S))/UTF8Decode (ANSI Delphi), never PChar(S) (UTF-16 on Delphi 2009+)
    and never an implicit AnsiString conversion (it uses the ANSI code page / the locale).
  - Strings the library returns are copied, then released with oauthmail_string_free (never
    FreeMem/StrDispose: another module's heap).
  - Callbacks may run on threads the library created: IsMultiThread is set, exceptions are caught
    in the trampolines, and on Unix FPC programs must list cthreads FIRST in their uses clause
    (callbacks raise EOAuthMail when no thread manager is installed).
  - int32_t = Integer, uint32_t = Cardinal, handles = Pointer (LongInt/LongWord change size on
    64-bit POSIX Delphi; no enums or Booleans cross the boundary). *)
unit OAuthMail;

{$IFDEF FPC}
  {$IFNDEF FPC_DELPHI}{$IFNDEF FPC_DELPHIUNICODE}{$MODE DELPHI}{$ENDIF}{$ENDIF}  { keep -Mdelphi / -Mdelphiunicode }
  {$H+}
  { -dOAUTHMAIL_MODEL_DELPHI7 (with -Mdelphi): take Delphi 7's ANSI code page branches instead of
    FPC's "AnsiString holds UTF-8" convention, so that CI compiles and runs them. }
  {$IFNDEF OAUTHMAIL_MODEL_DELPHI7}{$DEFINE OAUTHMAIL_FPC_ANSI}{$ENDIF}
{$ENDIF}

interface

uses
  {$IFDEF FPC}dynlibs,{$ELSE}{$IFDEF MSWINDOWS}Windows,{$ENDIF} SyncObjs,{$ENDIF}
  SysUtils, Classes;

const
  {$IFDEF MSWINDOWS}
  OAUTHMAIL_LIB = 'oauthmail.dll';       { 32-bit programs need the 32-bit DLL }
  {$ELSE}
    {$IF Defined(DARWIN) or Defined(MACOS)}
  OAUTHMAIL_LIB = 'liboauthmail.dylib';
    {$ELSE}
  OAUTHMAIL_LIB = 'liboauthmail.so';
    {$IFEND}
  {$ENDIF}

  { The oldest library version this unit works with; older ones raise EOAuthMailNotInstalled. }
  OAUTHMAIL_MIN_VERSION = '0.1.0';

  { oauthmail_status values (fixed numbers, see docs/API.md). }
  OAUTHMAIL_OK = 0;
  OAUTHMAIL_INVALID_ARGUMENT = 1;
  OAUTHMAIL_CANCELLED = 2;
  OAUTHMAIL_TIMEOUT = 3;
  OAUTHMAIL_ACCESS_DENIED = 4;
  OAUTHMAIL_REAUTHORIZE = 5;
  OAUTHMAIL_INSUFFICIENT_SCOPE = 6;
  OAUTHMAIL_AUTH_FAILED = 7;
  OAUTHMAIL_NETWORK = 8;
  OAUTHMAIL_TLS = 9;
  OAUTHMAIL_RATE_LIMITED = 10;
  OAUTHMAIL_REJECTED = 11;
  OAUTHMAIL_PROVIDER = 12;
  OAUTHMAIL_IO = 13;
  OAUTHMAIL_INTERNAL = 14;

  { Log levels. }
  OAUTHMAIL_LOG_ERROR = 1;
  OAUTHMAIL_LOG_WARN = 2;
  OAUTHMAIL_LOG_INFO = 3;
  OAUTHMAIL_LOG_DEBUG = 4;
  OAUTHMAIL_LOG_TRACE = 5;

type
  { NUL-terminated UTF-8 bytes as they cross the boundary. (In the Delphi 7 model FPC needs
    UTF8String so that UTF8Encode's result is not converted again; in Delphi 7 it is AnsiString.) }
  {$IF Defined(UNICODE) or Defined(OAUTHMAIL_MODEL_DELPHI7)}
  TOAuthMailUtf8 = UTF8String;
  {$ELSE}
  TOAuthMailUtf8 = AnsiString;
  {$IFEND}

  { The C callback types (oauthmail_url_opener, oauthmail_logger). }
  TOAuthMailUrlOpenerProc = function(UserData: Pointer; Url: PAnsiChar): Integer; cdecl;
  TOAuthMailLoggerProc = procedure(UserData: Pointer; Level: Cardinal; Msg: PAnsiChar); cdecl;
  { oauthmail_progress: uint64_t is passed as Int64 (same size and passing; Delphi 7's UInt64 is
    unreliable); totals stay far below 2^63. Non-zero cancels the send. }
  TOAuthMailProgressProc = function(UserData: Pointer; BytesDone, BytesTotal: Int64): Integer; cdecl;

{ The raw C API (include/oauthmail.h). Strings are PAnsiChar holding UTF-8. Each call loads the
  library first if needed (raising EOAuthMailNotInstalled). }
function oauthmail_version: PAnsiChar;
function oauthmail_status_name(Status: Cardinal): PAnsiChar;
function oauthmail_client_new(ConfigJson: PAnsiChar; var OutClient: Pointer; var OutJson: PAnsiChar): Cardinal;
procedure oauthmail_client_free(Client: Pointer);
function oauthmail_client_set_url_opener(Client: Pointer; Opener: TOAuthMailUrlOpenerProc; UserData: Pointer): Cardinal;
function oauthmail_client_set_logger(Client: Pointer; Logger: TOAuthMailLoggerProc; UserData: Pointer; MaxLevel: Cardinal): Cardinal;
function oauthmail_authorize(Client: Pointer; OptionsJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal;
function oauthmail_refresh(Client: Pointer; TokenJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal;
function oauthmail_send(Client: Pointer; TokenJson, MessageJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal;
function oauthmail_revoke(Client: Pointer; TokenJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal;
procedure oauthmail_cancel(Client: Pointer);
procedure oauthmail_string_free(S: PAnsiChar);
{ Added after 0.1.0's first release: optional. On a library without them they raise
  EOAuthMailNotInstalled naming the function and the version found (the rest keeps working). }
function oauthmail_client_set_progress(Client: Pointer; Progress: TOAuthMailProgressProc; UserData: Pointer): Cardinal;
function oauthmail_check(Client: Pointer; TokenJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal;
function oauthmail_store_list(Client: Pointer; var OutJson: PAnsiChar): Cardinal;
function oauthmail_store_remove(Client: Pointer; Account: PAnsiChar; var OutJson: PAnsiChar): Cardinal;

type
  { The library could not be loaded, or is older than this unit needs. Raised by the first call
    that needs the library (and by OAuthMailLoad), never at program start. }
  EOAuthMailNotInstalled = class(Exception)
  private
    FSearchedPaths: string;
    FVersionFound: string;
  public
    constructor CreateSearch(const ASearched, AVersionFound: string);
    { The loaded library lacks an optional function this call needs. }
    constructor CreateMissing(const AFunction, APath, AVersionFound: string);
    { Every path tried, one per line, each with the reason it failed. }
    property SearchedPaths: string read FSearchedPaths;
    { The version of a library that loaded but is too old; '' when none loaded. }
    property VersionFound: string read FVersionFound;
  end;

  { A failed call, with the library's error document. }
  EOAuthMail = class(Exception)
  private
    FStatus: Cardinal;
    FStatusName: string;
    FErrorJson: string;
    FField: string;
    FHint: string;
    FHintId: string;
    FCause: Exception;
  public
    constructor CreateStatus(AStatus: Cardinal; const AErrorJson: string; const Extra: string = '');
    destructor Destroy; override;
    { The status number, e.g. OAUTHMAIL_REAUTHORIZE (5). }
    property Status: Cardinal read FStatus;
    { The status name, e.g. 'reauthorize'. }
    property StatusName: string read FStatusName;
    // The error document: {"error": {"status", "code", "message", "hint", "field"?, ...}}.
    property ErrorJson: string read FErrorJson;
    { The input the error is about ('config.client_id', 'message.to[1]'), or ''. }
    property Field: string read FField;
    { What the user or administrator should do. }
    property Hint: string read FHint;
    { A stable id of the hint, where the library sends one; '' otherwise. }
    property HintId: string read FHintId;
    { The host exception that caused this error (one raised in OnProgress / a progress handler),
      owned by this exception; nil otherwise. }
    property Cause: Exception read FCause;
  end;

  { One step of a check report (docs/API.md, oauthmail_check). }
  TOAuthMailCheckStep = record
    Step: string;        { 'config', 'dns', 'tcp', 'tls', 'client', 'refresh', 'scopes', 'gmail_api', 'smtp_ehlo', ... }
    Target: string;      { a host, host:port, an account, a scope }
    Ok: Boolean;
    Ms: Int64;           { how long the step took }
    Detail: string;      { one English line }
    (* For a failed step: what a send would have raised. ErrorJson is the whole error document
      ('{"error": {...}}', as EOAuthMail.ErrorJson); '' for a step that passed. *)
    ErrorJson: string;
    ErrorStatus: Cardinal;
    ErrorMessage, Hint, HintId, Field: string;
  end;

  { The report of Check: Ok when every step passed; otherwise Failed is the index of the failed
    step (the check stops there) and Status its status. Json is the report as the library wrote it. }
  TOAuthMailCheckResult = record
    Ok: Boolean;
    Status: Cardinal;
    Failed: Integer;     { -1 when every step passed }
    Steps: array of TOAuthMailCheckStep;
    Json: string;
  end;

  { One account of the token store (never a secret). Times are Unix seconds (UTC; DateUtils'
    UnixToDateTime converts them), 0 where the store does not know them. }
  TOAuthMailAccount = record
    Account, Provider, Scope: string;
    AuthorizedAt, ExpiresAt, RefreshedAt: Int64;
  end;
  TOAuthMailAccounts = array of TOAuthMailAccount;

  { Opens the authorization URL; True when opened (False declines: Authorize raises CANCELLED). }
  TOAuthMailUrlOpener = function(const Url: string): Boolean of object;
  { Receives a log line (1 = error .. 5 = trace); never contains a secret. }
  TOAuthMailLogger = procedure(Level: Cardinal; const Msg: string) of object;
  { Upload progress of a send; set Cancel := True to stop it before its final data. }
  TOAuthMailProgress = procedure(BytesDone, BytesTotal: Int64; var Cancel: Boolean) of object;

  { One configuration (provider, client id, endpoints, ...), its connections and callbacks.
    Methods may be called from several threads at once; Cancel from any thread. Free must be the
    last call. }
  TOAuthMailClient = class
  private
    FHandle: Pointer;
    FHolders: array of Pointer;  { every callback ever registered, released in Destroy }
    FOpenerError: string;
    function AddHolder: Pointer;
    function H: Pointer;
  public
    constructor Create(const ConfigJson: string);
    destructor Destroy; override;
    // Interactive authorization; returns the token document (it holds secrets).
    // OptionsJson may be '' or e.g. '{"login_hint": "...", "open_browser": true}'.
    function Authorize(const OptionsJson: string = ''): string;
    { A fresh access token; returns the full new token document. }
    function Refresh(const TokenJson: string): string;
    { Sends one message; the result may carry a refreshed "token" to store. }
    function Send(const TokenJson, MessageJson: string): string;
    { Revokes the grant at the provider. }
    function Revoke(const TokenJson: string): string;
    { Makes the calls in flight on this client raise CANCELLED. Safe from any thread. }
    procedure Cancel;
    { Opens the authorization URL instead of the system browser. Runs on the thread that called
      Authorize, before the library answers the browser: return promptly. nil restores the
      browser. An exception it raises makes Authorize raise EOAuthMail (CANCELLED) naming it. }
    procedure SetUrlOpener(Opener: TOAuthMailUrlOpener);
    { Log lines of level <= MaxLevel go to Logger, possibly on other threads. nil: logging off. }
    procedure SetLogger(Logger: TOAuthMailLogger; MaxLevel: Cardinal = OAUTHMAIL_LOG_INFO);
    { Upload progress of Send, on the thread that called Send, at most about ten times a second,
      ending with BytesDone = BytesTotal. Cancel := True (or an exception, which never reaches the
      library) stops the send before its final data: Send raises EOAuthMail (CANCELLED; for an
      exception its Cause is that exception) and nothing is delivered. nil removes it. An
      exception at the last call (BytesDone = BytesTotal: everything already went out) cannot stop
      the send; it is dropped and Send succeeds. Needs a library with oauthmail_client_set_progress. }
    procedure SetProgress(Progress: TOAuthMailProgress);
    (* The pre-flight check (never sends): the report '{"ok", "steps": [...]}', also when a step
      failed. TokenJson '' checks without a token; a token document, '{"account": ...}' or
      '{"subject": ...}' also checks the refresh, scopes and transport. Raises EOAuthMail only when
      the library answers with an error document (bad token JSON) or the check was cancelled. *)
    function Check(const TokenJson: string = ''): string;
    (* The token store's accounts: '{"accounts": [...]}' (no secret). *)
    function StoreList: string;
    (* Removes an account from the token store (nothing revoked): '{"removed": true|false}'. *)
    function StoreRemove(const Account: string): string;
    { The C handle, for calls through the raw API. Still owned by this object. }
    property Handle: Pointer read FHandle;
  end;

  { A log line buffered for the main thread (not a TStringList: FPC 3.2's is AnsiString, which
    would pass -Mdelphiunicode text through the locale's code page). }
  TOAuthMailLogLine = record
    Level: Cardinal;
    Msg: string;
  end;

  TOAuthMailAttachment = record
    Path, FileName, ContentType: string;
  end;

  { One message: addresses are 'Name <a@b>' or 'a@b', text is any string. AsJson is the message
    document (docs/API.md, "Message document"). }
  TOAuthMailMessage = class(TPersistent)
  private
    FFrom, FReplyTo, FSubject, FText, FHtml: string;
    FRecipients, FCC, FBCC, FHeaders: TStrings;
    FAttachments: array of TOAuthMailAttachment;
    procedure SetStrings(var Field: TStrings; Value: TStrings);
    procedure SetRecipients(Value: TStrings);
    procedure SetCC(Value: TStrings);
    procedure SetBCC(Value: TStrings);
    procedure SetHeaders(Value: TStrings);
    function GetAttachmentCount: Integer;
  public
    constructor Create;
    destructor Destroy; override;
    procedure Assign(Source: TPersistent); override;
    { Attaches a file; FileName is the name the recipient sees (default: the file's own name). }
    procedure AddAttachment(const Path: string; const FileName: string = ''; const ContentType: string = '');
    procedure ClearAttachments;
    procedure Clear;
    { The message document. }
    function AsJson: string;
    property AttachmentCount: Integer read GetAttachmentCount;
  published
    property From: string read FFrom write FFrom;
    { The To addresses, one per line ("To" is a reserved word in Pascal). }
    property Recipients: TStrings read FRecipients write SetRecipients;
    property CC: TStrings read FCC write SetCC;
    property BCC: TStrings read FBCC write SetBCC;
    property ReplyTo: string read FReplyTo write FReplyTo;
    property Subject: string read FSubject write FSubject;
    property Text: string read FText write FText;
    property Html: string read FHtml write FHtml;
    { Extra headers as Name=Value lines. }
    property Headers: TStrings read FHeaders write SetHeaders;
  end;

  { Time limits in seconds; 0 keeps the library's default (authorize 300, connect 15, I/O 60). }
  TOAuthMailTimeouts = class(TPersistent)
  private
    FAuthorize, FConnect, FIO: Integer;
  public
    procedure Assign(Source: TPersistent); override;
  published
    property AuthorizeSeconds: Integer read FAuthorize write FAuthorize default 0;
    property ConnectSeconds: Integer read FConnect write FConnect default 0;
    property IOSeconds: Integer read FIO write FIO default 0;
  end;

  TOAuthMailLogEvent = procedure(Sender: TObject; Level: Cardinal; const Msg: string) of object;
  { Open Url for the user (a browser, a dialog with the link); set Opened := False to decline. }
  TOAuthMailOpenUrlEvent = procedure(Sender: TObject; const Url: string; var Opened: Boolean) of object;
  { Token is the new token document ('' after Revoke): store it protected. }
  TOAuthMailTokenEvent = procedure(Sender: TObject; const Token: string) of object;
  { Upload progress of Send; set Cancel := True to stop the send before its final data. }
  TOAuthMailProgressEvent = procedure(Sender: TObject; BytesDone, BytesTotal: Int64; var Cancel: Boolean) of object;

  { The non-visual component. Set the properties, then call Authorize once per account (or put a
    stored token document into Token) and Send. The client is created on the first call from the
    properties; a property changed later takes effect on the next call that starts after it.

    Threads: methods may be called from several threads at once (a worker thread in a GUI: the
    calls block) and Cancel from any thread. Without SynchronizeEvents, OnOpenUrl, OnProgress and
    OnTokenChanged run on the thread that called the method, and OnLog on any thread, threads the
    library created included. With SynchronizeEvents:
    - OnOpenUrl, OnProgress and OnTokenChanged run on the main thread (TThread.Synchronize when
      the call was made on another thread: the main thread must be free to process it, as a
      VCL/LCL application's is; a console program calls CheckSynchronize);
    - OnLog lines from the main thread are delivered at once; lines from other threads are
      buffered and delivered, in order, on the main thread when the method returns.
    An exception raised in OnOpenUrl makes Authorize raise EOAuthMail (CANCELLED) naming it; one
    raised in OnProgress makes Send raise EOAuthMail (CANCELLED) naming it, with it in Cause; one
    raised in OnLog is ignored (the library never sees it). }
  TOAuthMail = class(TComponent)
  private
    FConfigFile, FProvider, FClientSecretsFile, FClientId, FClientSecret, FTransport, FStorePath: string;
    FUILanguage, FProxy, FExtraCAFile, FExtraConfig, FToken, FLastResult: string;
    FStoreProtect, FServiceAccountFile, FAccount, FSubject: string;
    FTimeouts: TOAuthMailTimeouts;
    FLogLevel: Cardinal;
    FSynchronizeEvents: Boolean;
    FOnLog: TOAuthMailLogEvent;
    FOnOpenUrl: TOAuthMailOpenUrlEvent;
    FOnTokenChanged: TOAuthMailTokenEvent;
    FOnProgress: TOAuthMailProgressEvent;
    FClient: TOAuthMailClient;
    FClientConfig: string;
    FProgressSet: Boolean;  { FClient has the Progress handler registered }
    FRetired: TList;  { clients replaced after a property change, freed in Destroy }
    FLock: Pointer;
    FPending: array of TOAuthMailLogLine;  { buffered OnLog lines (SynchronizeEvents) }
    procedure SetTimeouts(Value: TOAuthMailTimeouts);
    function GetClient: TOAuthMailClient;
    function ProgressClient: TOAuthMailClient;
    function OpenUrl(const Url: string): Boolean;
    procedure Log(Level: Cardinal; const Msg: string);
    procedure Progress(BytesDone, BytesTotal: Int64; var Cancel: Boolean);
    procedure DeliverPending;
    procedure Finish;
    procedure TokenChanged(const NewToken: string);
    function NeedToken: string;
    function IsReference: Boolean;
  public
    constructor Create(AOwner: TComponent); override;
    destructor Destroy; override;
    { The configuration document the properties make (docs/API.md, "Client configuration"). }
    function ConfigJson: string;
    { Authorizes an account interactively (the browser, or OnOpenUrl) and keeps its token in
      Token; returns the account's email. LoginHint preselects the account. }
    function Authorize(const LoginHint: string = ''): string;
    { Sends Msg with Token; returns the sent message's Message-ID. When the send refreshed the
      token, Token is updated and OnTokenChanged fires. LastResult holds the send result. }
    function Send(Msg: TOAuthMailMessage): string;
    { Refreshes the access token in Token. }
    procedure Refresh;
    (* Revokes the grant at the provider and clears Token (LastResult: '{"revoked": true}', or for
      Microsoft, which has no revocation endpoint, '{"revoked": false, "forgotten": true, ...}').
      With Account set: revokes the stored grant and removes the entry; Token is left as it is. *)
    procedure Revoke;
    { The pre-flight check: configuration, DNS, TCP, TLS, the OAuth client and, with a token
      (Token, or Account / Subject), the refresh, scopes and transport. Never sends a message. A
      failed step is a result (Ok = False, Steps[Failed] says which and why, with Hint/HintId);
      EOAuthMail only for bad input or Cancel. WithToken = False checks without any token. }
    function Check(WithToken: Boolean = True): TOAuthMailCheckResult;
    { The accounts of the token store (StorePath, or "store" in ConfigFile); no secrets. }
    function StoreList: TOAuthMailAccounts;
    { Removes Account from the token store (nothing is revoked at the provider: Revoke with
      Account set does both); False when the store had no such account. }
    function StoreRemove(const Account: string): Boolean;
    { Makes the calls in flight raise EOAuthMail (CANCELLED). Safe from any thread. }
    procedure Cancel;
    { The token document (it holds the refresh token: store it protected, load it back here).
      Not used when Account or Subject is set. }
    property Token: string read FToken write FToken;
    { The document the last Send returned. }
    property LastResult: string read FLastResult;
    (* A JSON object whose members are added to the configuration, for what has no property
      (e.g. '{"endpoints": {...}, "redirect": {"port": 8765}}'); it must not repeat one. *)
    property ExtraConfig: string read FExtraConfig write FExtraConfig;
    { The client, for calls the component does not cover (created on first use). }
    property Client: TOAuthMailClient read GetClient;
  published
    { A configuration file (docs/API.md, "Client configuration"; UTF-8 JSON) to start from, for
      what has no property (endpoints, redirect, scopes). A property that is set adds its field;
      setting one the file already has raises EOAuthMail (INVALID_ARGUMENT naming it), except
      Provider, which the file's "provider" overrides. }
    property ConfigFile: string read FConfigFile write FConfigFile;
    { 'google' (default), 'microsoft' or 'custom'. }
    property Provider: string read FProvider write FProvider;
    { Google's downloaded client file (client_secret_….json); ClientId/ClientSecret win when set. }
    property ClientSecretsFile: string read FClientSecretsFile write FClientSecretsFile;
    property ClientId: string read FClientId write FClientId;
    property ClientSecret: string read FClientSecret write FClientSecret;
    { '' (the provider's default), 'gmail_api' or 'smtp'. }
    property Transport: string read FTransport write FTransport;
    { The token store file (the configuration's "store"); '' for none. Needs a library with the
      token store; older ones refuse it with INVALID_ARGUMENT naming config.store. }
    property StorePath: string read FStorePath write FStorePath;
    { The token store's protection: '' (the library's default: 'user' on Windows; required
      elsewhere), 'user' or 'machine' (Windows DPAPI), 'none' (plain JSON, mode 0600 on Unix). }
    property StoreProtect: string read FStoreProtect write FStoreProtect;
    (* With a token store: the account (email) whose stored token Send, Refresh, Revoke and Check
      use instead of Token ('{"account": ...}'); the library refreshes and writes it back. Set it
      after Authorize (which saves the token in the store) and on every later run. *)
    property Account: string read FAccount write FAccount;
    { A Google Workspace service account key file (the configuration's service_account_file):
      no Authorize (it raises INVALID_ARGUMENT); set Subject to the user to send as. }
    property ServiceAccountFile: string read FServiceAccountFile write FServiceAccountFile;
    (* With ServiceAccountFile: the user of the domain that Send, Refresh and Check act as
      ('{"subject": ...}'). Set Account or Subject, not both. *)
    property Subject: string read FSubject write FSubject;
    { The language of the page the browser shows after consent: '' (default), 'en', 'ro'. }
    property UILanguage: string read FUILanguage write FUILanguage;
    property Proxy: string read FProxy write FProxy;
    { A PEM file of extra trusted CAs (TLS inspection proxies). }
    property ExtraCAFile: string read FExtraCAFile write FExtraCAFile;
    property Timeouts: TOAuthMailTimeouts read FTimeouts write SetTimeouts;
    property LogLevel: Cardinal read FLogLevel write FLogLevel default OAUTHMAIL_LOG_INFO;
    property SynchronizeEvents: Boolean read FSynchronizeEvents write FSynchronizeEvents default False;
    property OnLog: TOAuthMailLogEvent read FOnLog write FOnLog;
    property OnOpenUrl: TOAuthMailOpenUrlEvent read FOnOpenUrl write FOnOpenUrl;
    property OnTokenChanged: TOAuthMailTokenEvent read FOnTokenChanged write FOnTokenChanged;
    { Upload progress of Send (see TOAuthMailClient.SetProgress): on the thread that called Send,
      or with SynchronizeEvents on the main thread. Cancel := True stops the send before its final
      data: Send raises EOAuthMail (CANCELLED) and nothing is delivered. An exception raised here
      never reaches the library: it stops the send the same way, and Send raises EOAuthMail
      (CANCELLED) naming it, with the exception in Cause. }
    property OnProgress: TOAuthMailProgressEvent read FOnProgress write FOnProgress;
  end;

{ Loads the library from Path (a file), or searches as described at the top when Path is ''.
  Raises EOAuthMailNotInstalled. Does nothing when a library is already loaded. }
procedure OAuthMailLoad(const Path: string = '');
{ True once the library is loaded. }
function OAuthMailLoaded: Boolean;
{ The file the library was loaded from ('' before). }
function OAuthMailLibraryPath: string;
{ The library's version, e.g. '0.1.0'. }
function OAuthMailVersion: string;
{ The lowercase name of a status code; 'unknown' for unknown values. }
function OAuthMailStatusName(Status: Cardinal): string;
{ A host string as UTF-8 bytes, and back. }
function OAuthMailToUtf8(const S: string): TOAuthMailUtf8;
function OAuthMailFromUtf8(const U: TOAuthMailUtf8): string;
{ Copies a NUL-terminated UTF-8 string (the caller keeps ownership of P). }
function OAuthMailPCharToString(P: PAnsiChar): string;
{ Reads a UTF-8 file (a BOM is skipped) into a string. }
function OAuthMailReadFile(const Path: string): string;
{ S as a JSON string literal, quotes included. }
function JsonQuote(const S: string): string;
{ The string value of the first member named Key anywhere in Json (keys inside string values
  never match), or Fallback. Meant for the flat documents this library returns. }
function JsonGetString(const Json, Key: string; const Fallback: string = ''): string;
{ The JSON text of the value of the first member named Key anywhere in Json (an object, array,
  string with its quotes, number, true/false/null), or ''. }
function JsonGetRaw(const Json, Key: string): string;
(* Token references, accepted wherever a token document is (Send, Refresh, Revoke, Check):
  '{"account": "EMAIL"}' names an account of the token store ("store" in the configuration);
  '{"subject": "EMAIL"}' a user of the Workspace domain a service account acts as. *)
function OAuthMailAccountRef(const Email: string): string;
function OAuthMailSubjectRef(const Email: string): string;
{ The typed forms of the documents Check and StoreList return. }
function OAuthMailParseCheck(const Json: string; Status: Cardinal): TOAuthMailCheckResult;
function OAuthMailParseAccounts(const Json: string): TOAuthMailAccounts;

procedure Register;

implementation

type
  PCallbackHolder = ^TCallbackHolder;
  TCallbackHolder = record
    Client: TOAuthMailClient;
    Opener: TOAuthMailUrlOpener;
    Logger: TOAuthMailLogger;
    Progress: TOAuthMailProgress;
  end;

threadvar
  { The exception a progress handler raised during the send running on this thread; taken (and
    owned) by TOAuthMailClient.Send. A plain object reference: no managed type in a threadvar. }
  ProgressCause: TObject;

function OAuthMailToUtf8(const S: string): TOAuthMailUtf8;
begin
{$IFDEF UNICODE}
  Result := UTF8Encode(S);
{$ELSE}
  {$IFDEF OAUTHMAIL_FPC_ANSI}
  Result := S;  { FPC ANSI strings hold UTF-8 (the Lazarus and Unix convention): bytes as they are }
  {$ELSE}
  Result := UTF8Encode(WideString(S));  { Delphi 7..2007: from the ANSI code page }
  {$ENDIF}
{$ENDIF}
end;

function OAuthMailFromUtf8(const U: TOAuthMailUtf8): string;
begin
{$IFDEF UNICODE}
  Result := UTF8ToString(U);
{$ELSE}
  {$IFDEF OAUTHMAIL_FPC_ANSI}
  Result := U;
  {$ELSE}
  Result := UTF8Decode(U);  { to the ANSI code page; characters outside it become '?' }
  {$ENDIF}
{$ENDIF}
end;

function Utf8Copy(P: PAnsiChar): TOAuthMailUtf8;
var
  N: Integer;
begin
  Result := '';
  if P = nil then Exit;
  N := 0;
  while P[N] <> #0 do Inc(N);
  SetLength(Result, N);
  if N > 0 then Move(P^, Result[1], N);
end;

function OAuthMailPCharToString(P: PAnsiChar): string;
begin
  Result := OAuthMailFromUtf8(Utf8Copy(P));
end;

function JsonQuote(const S: string): string;
const
  HexDigits: array[0..15] of Char = ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f');
var
  I: Integer;
  C: Char;
begin
  Result := '"';
  for I := 1 to Length(S) do
  begin
    C := S[I];
    case C of
      '"': Result := Result + '\"';
      '\': Result := Result + '\\';
      #10: Result := Result + '\n';
      #13: Result := Result + '\r';
      #9: Result := Result + '\t';
    else
      if Ord(C) < 32 then
        Result := Result + '\u00' + HexDigits[Ord(C) shr 4] + HexDigits[Ord(C) and 15]
      else
        Result := Result + C;
    end;
  end;
  Result := Result + '"';
end;

{ Byte-wise writes into a UTF-8 buffer: concatenating AnsiChars to a code-page-tagged string
  would convert them through the ANSI code page on Delphi 2009+ and FPC. }
procedure PutByte(var U: TOAuthMailUtf8; var N: Integer; B: Cardinal);
begin
  Inc(N);
  U[N] := AnsiChar(B);
end;

procedure PutUtf8(var U: TOAuthMailUtf8; var N: Integer; CP: Cardinal);
begin
  if CP < $80 then
    PutByte(U, N, CP)
  else if CP < $800 then
  begin
    PutByte(U, N, $C0 or (CP shr 6));
    PutByte(U, N, $80 or (CP and $3F));
  end
  else if CP < $10000 then
  begin
    PutByte(U, N, $E0 or (CP shr 12));
    PutByte(U, N, $80 or ((CP shr 6) and $3F));
    PutByte(U, N, $80 or (CP and $3F));
  end
  else
  begin
    PutByte(U, N, $F0 or (CP shr 18));
    PutByte(U, N, $80 or ((CP shr 12) and $3F));
    PutByte(U, N, $80 or ((CP shr 6) and $3F));
    PutByte(U, N, $80 or (CP and $3F));
  end;
end;

function Hex4(const U: TOAuthMailUtf8; I: Integer; var V: Cardinal): Boolean;
var
  K: Integer;
  C: AnsiChar;
begin
  Result := False;
  if I + 3 > Length(U) then Exit;
  V := 0;
  for K := I to I + 3 do
  begin
    C := U[K];
    V := V shl 4;
    if (C >= '0') and (C <= '9') then V := V or Cardinal(Ord(C) - Ord('0'))
    else if (C >= 'a') and (C <= 'f') then V := V or Cardinal(Ord(C) - Ord('a') + 10)
    else if (C >= 'A') and (C <= 'F') then V := V or Cardinal(Ord(C) - Ord('A') + 10)
    else Exit;
  end;
  Result := True;
end;

{ U[I] = '"': decodes the JSON string (as UTF-8 bytes) and leaves I past its closing quote.
  The decoded text is never longer than its escaped form, so one buffer of Length(U) suffices. }
function ReadJsonString(const U: TOAuthMailUtf8; var I: Integer; var Value: TOAuthMailUtf8): Boolean;
var
  CP, Lo: Cardinal;
  N: Integer;
begin
  Result := False;
  Value := '';
  SetLength(Value, Length(U));
  N := 0;
  Inc(I);
  while I <= Length(U) do
  begin
    if U[I] = '"' then
    begin
      Inc(I);
      SetLength(Value, N);
      Result := True;
      Exit;
    end;
    if U[I] <> '\' then
      PutByte(Value, N, Ord(U[I]))
    else
    begin
      Inc(I);
      if I > Length(U) then Exit;
      case U[I] of
        'n': PutByte(Value, N, 10);
        'r': PutByte(Value, N, 13);
        't': PutByte(Value, N, 9);
        'b': PutByte(Value, N, 8);
        'f': PutByte(Value, N, 12);
        'u':
          begin
            if not Hex4(U, I + 1, CP) then Exit;
            Inc(I, 4);
            if (CP >= $D800) and (CP < $DC00) and (I + 6 <= Length(U)) and (U[I + 1] = '\') and (U[I + 2] = 'u')
              and Hex4(U, I + 3, Lo) and (Lo >= $DC00) and (Lo < $E000) then
            begin
              CP := $10000 + ((CP - $D800) shl 10) + (Lo - $DC00);
              Inc(I, 6);
            end;
            PutUtf8(Value, N, CP);
          end;
      else
        PutByte(Value, N, Ord(U[I]));
      end;
    end;
    Inc(I);
  end;
end;

function SkipSpace(const U: TOAuthMailUtf8; I: Integer): Integer;
begin
  while (I <= Length(U)) and ((U[I] = ' ') or (U[I] = #10) or (U[I] = #13) or (U[I] = #9)) do Inc(I);
  Result := I;
end;

function JsonGetString(const Json, Key: string; const Fallback: string): string;
var
  U, K, S, V: TOAuthMailUtf8;
  I, J: Integer;
begin
  Result := Fallback;
  U := OAuthMailToUtf8(Json);
  K := OAuthMailToUtf8(Key);
  I := 1;
  while I <= Length(U) do
  begin
    if U[I] <> '"' then
    begin
      Inc(I);
      Continue;
    end;
    if not ReadJsonString(U, I, S) then Exit;
    J := SkipSpace(U, I);
    if (J <= Length(U)) and (U[J] = ':') and (S = K) then
    begin
      J := SkipSpace(U, J + 1);
      if (J <= Length(U)) and (U[J] = '"') and ReadJsonString(U, J, V) then
        Result := OAuthMailFromUtf8(V);
      Exit;
    end;
  end;
end;

{ ---- loading the library on first use ---- }

type
  TOAuthMailLibHandle = {$IFDEF FPC}TLibHandle{$ELSE}HMODULE{$ENDIF};

var
  Api: record
    version: function: PAnsiChar; cdecl;
    status_name: function(Status: Cardinal): PAnsiChar; cdecl;
    client_new: function(ConfigJson: PAnsiChar; var OutClient: Pointer; var OutJson: PAnsiChar): Cardinal; cdecl;
    client_free: procedure(Client: Pointer); cdecl;
    client_set_url_opener: function(Client: Pointer; Opener: TOAuthMailUrlOpenerProc; UserData: Pointer): Cardinal; cdecl;
    client_set_logger: function(Client: Pointer; Logger: TOAuthMailLoggerProc; UserData: Pointer; MaxLevel: Cardinal): Cardinal; cdecl;
    authorize: function(Client: Pointer; OptionsJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal; cdecl;
    refresh: function(Client: Pointer; TokenJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal; cdecl;
    send: function(Client: Pointer; TokenJson, MessageJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal; cdecl;
    revoke: function(Client: Pointer; TokenJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal; cdecl;
    cancel: procedure(Client: Pointer); cdecl;
    string_free: procedure(S: PAnsiChar); cdecl;
    { optional (see Bind in TryLoad) }
    client_set_progress: function(Client: Pointer; Progress: TOAuthMailProgressProc; UserData: Pointer): Cardinal; cdecl;
    check: function(Client: Pointer; TokenJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal; cdecl;
    store_list: function(Client: Pointer; var OutJson: PAnsiChar): Cardinal; cdecl;
    store_remove: function(Client: Pointer; Account: PAnsiChar; var OutJson: PAnsiChar): Cardinal; cdecl;
  end;
  LibVersion: string = '';
  LibHandle: TOAuthMailLibHandle = 0;
  LibPath: string = '';
  LibLoaded: Boolean = False;  { set last, after every entry point is resolved }
  {$IFDEF FPC}
  LoadLock: TRTLCriticalSection;
  {$ELSE}
  LoadLock: TCriticalSection;
  {$ENDIF}

procedure LockLoad;
begin
  {$IFDEF FPC}EnterCriticalSection(LoadLock);{$ELSE}LoadLock.Enter;{$ENDIF}
end;

procedure UnlockLoad;
begin
  {$IFDEF FPC}LeaveCriticalSection(LoadLock);{$ELSE}LoadLock.Leave;{$ENDIF}
end;

function EnvVar(const Name: string): string;
{$IF Defined(FPC) or not Defined(MSWINDOWS)}
begin
  Result := GetEnvironmentVariable(Name);
end;
{$ELSE}
var
  Buf: array[0..1023] of Char;
  N: Cardinal;
begin
  N := Windows.GetEnvironmentVariable(PChar(Name), Buf, Length(Buf));  { Delphi 7 has no SysUtils version }
  if (N = 0) or (N >= Cardinal(Length(Buf))) then Result := '' else SetString(Result, Buf, N);
end;
{$IFEND}

function OpenLib(const Path: string; var Reason: string): TOAuthMailLibHandle;
begin
  {$IFDEF FPC}
  Result := dynlibs.LoadLibrary(Path);
  if Result = NilHandle then Reason := string(GetLoadErrorStr) else Reason := '';
  {$ELSE}
  Result := LoadLibrary(PChar(Path));
  if Result = 0 then Reason := SysErrorMessage(GetLastError) else Reason := '';
  {$ENDIF}
end;

procedure CloseLib(H: TOAuthMailLibHandle);
begin
  {$IFDEF FPC}dynlibs.FreeLibrary(H);{$ELSE}FreeLibrary(H);{$ENDIF}
end;

function Sym(H: TOAuthMailLibHandle; const Name: AnsiString): Pointer;
begin
  {$IFDEF FPC}
  Result := GetProcedureAddress(H, Name);
  {$ELSE}{$IFDEF MSWINDOWS}
  Result := GetProcAddress(H, PAnsiChar(Name));  { Windows.GetProcAddress takes LPCSTR }
  {$ELSE}
  Result := GetProcAddress(H, PChar(string(Name)));  { Delphi POSIX: SysUtils, PWideChar }
  {$ENDIF}{$ENDIF}
end;

{ 'a.b.c' as a comparable number (each part below 1000). }
function VersionNumber(const V: string): Integer;
var
  I, Part, Parts: Integer;
begin
  Result := 0;
  Part := 0;
  Parts := 0;
  for I := 1 to Length(V) + 1 do
    if (I <= Length(V)) and (V[I] >= '0') and (V[I] <= '9') then
      Part := Part * 10 + Ord(V[I]) - Ord('0')
    else
    begin
      Result := Result * 1000 + Part;
      Part := 0;
      Inc(Parts);
      if (Parts = 3) or (I > Length(V)) or (V[I] <> '.') then Break;
    end;
  while Parts < 3 do
  begin
    Result := Result * 1000;
    Inc(Parts);
  end;
end;

{ Tries one file; True when it is a complete, new enough library (then Api is filled). }
function TryLoad(const Path: string; var Searched, VersionFound: string): Boolean;
var
  H: TOAuthMailLibHandle;
  Reason, Missing, Found: string;

  { Resolves one entry point into Slot (any procedural variable of Api); a required one that is
    missing is added to Missing. }
  procedure Bind(var Slot; const Name: AnsiString; Required: Boolean);
  begin
    Pointer(Slot) := Sym(H, Name);
    if (Pointer(Slot) <> nil) or not Required then Exit;
    if Missing <> '' then Missing := Missing + ', ';
    Missing := Missing + string(Name);
  end;

begin
  Result := False;
  H := OpenLib(Path, Reason);
  if H = {$IFDEF FPC}NilHandle{$ELSE}0{$ENDIF} then
  begin
    Searched := Searched + Path + ': ' + Reason + sLineBreak;
    Exit;
  end;
  Missing := '';
  { Required: a library without one of these is refused, naming what it lacks. }
  Bind(Api.version, 'oauthmail_version', True);
  Bind(Api.status_name, 'oauthmail_status_name', True);
  Bind(Api.client_new, 'oauthmail_client_new', True);
  Bind(Api.client_free, 'oauthmail_client_free', True);
  Bind(Api.client_set_url_opener, 'oauthmail_client_set_url_opener', True);
  Bind(Api.client_set_logger, 'oauthmail_client_set_logger', True);
  Bind(Api.authorize, 'oauthmail_authorize', True);
  Bind(Api.refresh, 'oauthmail_refresh', True);
  Bind(Api.send, 'oauthmail_send', True);
  Bind(Api.revoke, 'oauthmail_revoke', True);
  Bind(Api.cancel, 'oauthmail_cancel', True);
  Bind(Api.string_free, 'oauthmail_string_free', True);
  { Optional: a program that never calls them runs with an older library; calling one there
    raises EOAuthMailNotInstalled (Need). }
  Bind(Api.client_set_progress, 'oauthmail_client_set_progress', False);
  Bind(Api.check, 'oauthmail_check', False);
  Bind(Api.store_list, 'oauthmail_store_list', False);
  Bind(Api.store_remove, 'oauthmail_store_remove', False);
  Found := '';
  if Assigned(Api.version) then Found := OAuthMailFromUtf8(Utf8Copy(Api.version()));
  if (Missing <> '') or (VersionNumber(Found) < VersionNumber(OAUTHMAIL_MIN_VERSION)) then
  begin
    if Found = '' then Found := '(no oauthmail_version)';
    VersionFound := Found;
    if Missing <> '' then
      Searched := Searched + Path + ': version ' + Found + ' lacks ' + Missing + sLineBreak
    else
      Searched := Searched + Path + ': version ' + Found + ' is older than ' + OAUTHMAIL_MIN_VERSION + sLineBreak;
    CloseLib(H);
    Exit;
  end;
  LibHandle := H;
  LibPath := Path;
  LibVersion := Found;
  Result := True;
end;

procedure OAuthMailLoad(const Path: string);
var
  Searched, VersionFound, Dir, Env: string;
  Ok: Boolean;
begin
  if LibLoaded then Exit;
  LockLoad;
  try
    if LibLoaded then Exit;
    Searched := '';
    VersionFound := '';
    Env := EnvVar('OAUTHMAIL_LIBRARY');
    if Path <> '' then
      Ok := TryLoad(Path, Searched, VersionFound)
    else if Env <> '' then
      Ok := TryLoad(Env, Searched, VersionFound)  { an explicit choice is never second-guessed }
    else
    begin
      Dir := ExtractFilePath(ParamStr(0));
      Ok := (Dir <> '') and FileExists(Dir + OAUTHMAIL_LIB) and TryLoad(Dir + OAUTHMAIL_LIB, Searched, VersionFound);
      if not Ok then
      begin
        if (Dir <> '') and not FileExists(Dir + OAUTHMAIL_LIB) then
          Searched := Searched + Dir + OAUTHMAIL_LIB + ': no such file' + sLineBreak;
        Ok := TryLoad(OAUTHMAIL_LIB, Searched, VersionFound);  { the system's search }
      end;
      {$IF not Defined(MSWINDOWS) and not Defined(DARWIN) and not Defined(MACOS)}
      if not Ok then Ok := TryLoad(OAUTHMAIL_LIB + '.0', Searched, VersionFound);
      {$IFEND}
    end;
    if not Ok then raise EOAuthMailNotInstalled.CreateSearch(Searched, VersionFound);
    LibLoaded := True;
  finally
    UnlockLoad;
  end;
end;

function OAuthMailLoaded: Boolean;
begin
  Result := LibLoaded;
end;

function OAuthMailLibraryPath: string;
begin
  Result := LibPath;
end;

procedure NeedLib;
begin
  if not LibLoaded then OAuthMailLoad('');
end;

function oauthmail_version: PAnsiChar;
begin
  NeedLib;
  Result := Api.version();
end;

function oauthmail_status_name(Status: Cardinal): PAnsiChar;
begin
  NeedLib;
  Result := Api.status_name(Status);
end;

function oauthmail_client_new(ConfigJson: PAnsiChar; var OutClient: Pointer; var OutJson: PAnsiChar): Cardinal;
begin
  NeedLib;
  Result := Api.client_new(ConfigJson, OutClient, OutJson);
end;

procedure oauthmail_client_free(Client: Pointer);
begin
  if Client = nil then Exit;  { nothing was ever created: no need to load the library }
  NeedLib;
  Api.client_free(Client);
end;

function oauthmail_client_set_url_opener(Client: Pointer; Opener: TOAuthMailUrlOpenerProc; UserData: Pointer): Cardinal;
begin
  NeedLib;
  Result := Api.client_set_url_opener(Client, Opener, UserData);
end;

function oauthmail_client_set_logger(Client: Pointer; Logger: TOAuthMailLoggerProc; UserData: Pointer; MaxLevel: Cardinal): Cardinal;
begin
  NeedLib;
  Result := Api.client_set_logger(Client, Logger, UserData, MaxLevel);
end;

function oauthmail_authorize(Client: Pointer; OptionsJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal;
begin
  NeedLib;
  Result := Api.authorize(Client, OptionsJson, OutJson);
end;

function oauthmail_refresh(Client: Pointer; TokenJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal;
begin
  NeedLib;
  Result := Api.refresh(Client, TokenJson, OutJson);
end;

function oauthmail_send(Client: Pointer; TokenJson, MessageJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal;
begin
  NeedLib;
  Result := Api.send(Client, TokenJson, MessageJson, OutJson);
end;

function oauthmail_revoke(Client: Pointer; TokenJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal;
begin
  NeedLib;
  Result := Api.revoke(Client, TokenJson, OutJson);
end;

procedure oauthmail_cancel(Client: Pointer);
begin
  if Client = nil then Exit;
  NeedLib;
  Api.cancel(Client);
end;

procedure oauthmail_string_free(S: PAnsiChar);
begin
  if S = nil then Exit;
  NeedLib;
  Api.string_free(S);
end;

{ Loads the library and raises EOAuthMailNotInstalled when it lacks the optional function Fn. }
procedure Need(Fn: Pointer; const Name: string);
begin
  if Fn = nil then raise EOAuthMailNotInstalled.CreateMissing(Name, LibPath, LibVersion);
end;

function oauthmail_client_set_progress(Client: Pointer; Progress: TOAuthMailProgressProc; UserData: Pointer): Cardinal;
begin
  NeedLib;
  Need(@Api.client_set_progress, 'oauthmail_client_set_progress');
  Result := Api.client_set_progress(Client, Progress, UserData);
end;

function oauthmail_check(Client: Pointer; TokenJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal;
begin
  NeedLib;
  Need(@Api.check, 'oauthmail_check');
  Result := Api.check(Client, TokenJson, OutJson);
end;

function oauthmail_store_list(Client: Pointer; var OutJson: PAnsiChar): Cardinal;
begin
  NeedLib;
  Need(@Api.store_list, 'oauthmail_store_list');
  Result := Api.store_list(Client, OutJson);
end;

function oauthmail_store_remove(Client: Pointer; Account: PAnsiChar; var OutJson: PAnsiChar): Cardinal;
begin
  NeedLib;
  Need(@Api.store_remove, 'oauthmail_store_remove');
  Result := Api.store_remove(Client, Account, OutJson);
end;

{ EOAuthMailNotInstalled }

constructor EOAuthMailNotInstalled.CreateSearch(const ASearched, AVersionFound: string);
var
  Lines: string;
begin
  FSearchedPaths := ASearched;
  FVersionFound := AVersionFound;
  Lines := StringReplace(Trim(ASearched), sLineBreak, '; ', [rfReplaceAll]);
  if AVersionFound <> '' then
    inherited Create('liboauthmail is not installed in a usable version (found ' + AVersionFound +
      ', this program needs ' + OAUTHMAIL_MIN_VERSION + ' or later): ' + Lines)
  else
    inherited Create('liboauthmail is not installed: ' + OAUTHMAIL_LIB + ' was not found (searched: ' + Lines + ')');
end;

constructor EOAuthMailNotInstalled.CreateMissing(const AFunction, APath, AVersionFound: string);
begin
  FSearchedPaths := APath + ': version ' + AVersionFound + ' lacks ' + AFunction + sLineBreak;
  FVersionFound := AVersionFound;
  inherited Create('liboauthmail is not installed in a version that has ' + AFunction + ' (found ' +
    AVersionFound + ' at ' + APath + '): install a newer ' + OAUTHMAIL_LIB);
end;

{ Copies a library-owned string and releases it with oauthmail_string_free. }
function Take(var P: PAnsiChar): string;
begin
  try
    Result := OAuthMailPCharToString(P);
  finally
    if P <> nil then oauthmail_string_free(P);
    P := nil;
  end;
end;

function OAuthMailVersion: string;
begin
  Result := OAuthMailPCharToString(oauthmail_version);
end;

function OAuthMailStatusName(Status: Cardinal): string;
begin
  Result := OAuthMailPCharToString(oauthmail_status_name(Status));
end;

{ The status names, for the errors this unit raises itself (so building one never needs the library). }
function StatusNameOffline(Status: Cardinal): string;
const
  Names: array[0..14] of string = ('ok', 'invalid_argument', 'cancelled', 'timeout', 'access_denied',
    'reauthorize', 'insufficient_scope', 'auth_failed', 'network', 'tls', 'rate_limited', 'rejected',
    'provider', 'io', 'internal');
begin
  if Status <= 14 then Result := Names[Status] else Result := 'unknown';
end;

function OAuthMailReadFile(const Path: string): string;
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
  if (Length(U) >= 3) and (U[1] = #$EF) and (U[2] = #$BB) and (U[3] = #$BF) then Delete(U, 1, 3);
  Result := OAuthMailFromUtf8(U);
end;

{ EOAuthMail }

constructor EOAuthMail.CreateStatus(AStatus: Cardinal; const AErrorJson: string; const Extra: string);
var
  Text: string;
begin
  FStatus := AStatus;
  FErrorJson := AErrorJson;
  FStatusName := JsonGetString(AErrorJson, 'status', StatusNameOffline(AStatus));
  FField := JsonGetString(AErrorJson, 'field');
  FHint := JsonGetString(AErrorJson, 'hint');
  FHintId := JsonGetString(AErrorJson, 'hint_id');
  Text := FStatusName + ' (' + IntToStr(AStatus) + '): ' + JsonGetString(AErrorJson, 'message', 'no details');
  if FField <> '' then Text := Text + ' [field ' + FField + ']';
  if Extra <> '' then Text := Text + ' (' + Extra + ')';
  inherited Create(Text);
end;

destructor EOAuthMail.Destroy;
begin
  FCause.Free;
  inherited Destroy;
end;

function ArgumentError(const Field, Msg: string): EOAuthMail;
begin
  Result := EOAuthMail.CreateStatus(OAUTHMAIL_INVALID_ARGUMENT,
    '{"error": {"status": "invalid_argument", "code": 1, "message": ' + JsonQuote(Msg) +
    ', "hint": "Correct the input named in ''field'' and call again.", "field": ' + JsonQuote(Field) + '}}');
end;

{ A document as UTF-8; refuses a NUL character (C strings would end there). }
function Encode(const S, Field: string): TOAuthMailUtf8;
begin
  if Pos(#0, S) > 0 then raise ArgumentError(Field, Field + ' contains a NUL character');
  Result := OAuthMailToUtf8(S);
end;

procedure CheckStatus(Status: Cardinal; var OutJson: PAnsiChar);
var
  Text: string;
begin
  Text := Take(OutJson);
  if Status <> OAUTHMAIL_OK then raise EOAuthMail.CreateStatus(Status, Text);
end;

function Finish(Status: Cardinal; var OutJson: PAnsiChar): string;
begin
  Result := Take(OutJson);
  if Status <> OAUTHMAIL_OK then raise EOAuthMail.CreateStatus(Status, Result);
end;

{ Callbacks from other threads need the RTL's thread support. }
procedure RequireThreads;
{$IFDEF FPC}{$IFDEF UNIX}
var
  TM: TThreadManager;
{$ENDIF}{$ENDIF}
begin
{$IFDEF FPC}{$IFDEF UNIX}
  GetThreadManager(TM);
  if not Assigned(TM.InitManager) then
    raise EOAuthMail.CreateStatus(OAUTHMAIL_INVALID_ARGUMENT,
      '{"error": {"status": "invalid_argument", "code": 1, "message": "this program has no thread manager, ' +
      'but callbacks may run on other threads", "hint": "Add cthreads as the first unit of the program''s uses clause."}}');
{$ENDIF}{$ENDIF}
  IsMultiThread := True;  { the memory manager must lock: callbacks may run on other threads }
end;

{ The trampolines: C calling convention, UTF-8 in, no exception ever escapes. }
function UrlOpenerTrampoline(UserData: Pointer; Url: PAnsiChar): Integer; cdecl;
var
  Holder: PCallbackHolder;
begin
  Result := 1;
  Holder := UserData;
  try
    if Holder^.Opener(OAuthMailPCharToString(Url)) then Result := 0;
  except
    on E: Exception do
    begin
      Holder^.Client.FOpenerError := E.ClassName + ': ' + E.Message;
      Result := 1;
    end;
  else
    Result := 1;
  end;
end;

procedure LoggerTrampoline(UserData: Pointer; Level: Cardinal; Msg: PAnsiChar); cdecl;
begin
  try
    PCallbackHolder(UserData)^.Logger(Level, OAuthMailPCharToString(Msg));
  except
  end;
end;

function ProgressTrampoline(UserData: Pointer; BytesDone, BytesTotal: Int64): Integer; cdecl;
var
  Cancel: Boolean;
begin
  Result := 1;
  if ProgressCause <> nil then Exit;  { a handler already raised during this send: keep stopping }
  try
    Cancel := False;
    PCallbackHolder(UserData)^.Progress(BytesDone, BytesTotal, Cancel);
    if not Cancel then Result := 0;
  except
    ProgressCause := TObject(AcquireExceptionObject);  { kept for Send; never crosses into the library }
    Result := 1;
  end;
end;

{ TOAuthMailClient }

constructor TOAuthMailClient.Create(const ConfigJson: string);
var
  Config: TOAuthMailUtf8;
  OutJson: PAnsiChar;
  Status: Cardinal;
begin
  inherited Create;
  Config := Encode(ConfigJson, 'config');
  OutJson := nil;
  FHandle := nil;
  Status := oauthmail_client_new(PAnsiChar(Config), FHandle, OutJson);
  CheckStatus(Status, OutJson);  { a raise here runs Destroy, which frees nothing yet }
end;

destructor TOAuthMailClient.Destroy;
var
  I: Integer;
begin
  oauthmail_client_free(FHandle);  { first: after it returns, no callback can run }
  FHandle := nil;
  for I := 0 to High(FHolders) do Dispose(PCallbackHolder(FHolders[I]));
  FHolders := nil;
  inherited Destroy;
end;

function TOAuthMailClient.H: Pointer;
begin
  if FHandle = nil then raise ArgumentError('client', 'the client has no handle');
  Result := FHandle;
end;

function TOAuthMailClient.AddHolder: Pointer;
var
  Holder: PCallbackHolder;
begin
  New(Holder);
  FillChar(Holder^, SizeOf(Holder^), 0);
  Holder^.Client := Self;
  SetLength(FHolders, Length(FHolders) + 1);
  FHolders[High(FHolders)] := Holder;
  Result := Holder;
end;

function TOAuthMailClient.Authorize(const OptionsJson: string): string;
var
  Options: TOAuthMailUtf8;
  P: PAnsiChar;
  OutJson: PAnsiChar;
  Status: Cardinal;
begin
  Options := Encode(OptionsJson, 'options');
  if Options = '' then P := nil else P := PAnsiChar(Options);
  OutJson := nil;
  FOpenerError := '';
  Status := oauthmail_authorize(H, P, OutJson);
  Result := Take(OutJson);
  if Status <> OAUTHMAIL_OK then
  begin
    if FOpenerError <> '' then
      raise EOAuthMail.CreateStatus(Status, Result, 'the url opener raised ' + FOpenerError);
    raise EOAuthMail.CreateStatus(Status, Result);
  end;
end;

function TOAuthMailClient.Refresh(const TokenJson: string): string;
var
  Token: TOAuthMailUtf8;
  OutJson: PAnsiChar;
begin
  Token := Encode(TokenJson, 'token');
  OutJson := nil;
  Result := Finish(oauthmail_refresh(H, PAnsiChar(Token), OutJson), OutJson);
end;

function TOAuthMailClient.Send(const TokenJson, MessageJson: string): string;
var
  Token, Msg: TOAuthMailUtf8;
  OutJson: PAnsiChar;
  Status: Cardinal;
  Cause: TObject;
  E: EOAuthMail;
begin
  Token := Encode(TokenJson, 'token');
  Msg := Encode(MessageJson, 'message');
  OutJson := nil;
  ProgressCause := nil;
  try
    Status := oauthmail_send(H, PAnsiChar(Token), PAnsiChar(Msg), OutJson);
  finally
    Cause := ProgressCause;
    ProgressCause := nil;
  end;
  try
    Result := Take(OutJson);
  except
    Cause.Free;
    raise;
  end;
  if Status = OAUTHMAIL_OK then
  begin
    Cause.Free;  { raised at the last call, after all the data went out: too late to stop }
    Exit;
  end;
  if Cause = nil then raise EOAuthMail.CreateStatus(Status, Result);
  if Cause is Exception then
  begin
    E := EOAuthMail.CreateStatus(Status, Result, 'the progress handler raised ' + Cause.ClassName + ': ' + Exception(Cause).Message);
    E.FCause := Exception(Cause);
  end
  else
  begin
    E := EOAuthMail.CreateStatus(Status, Result, 'the progress handler raised ' + Cause.ClassName);
    Cause.Free;
  end;
  raise E;
end;

function TOAuthMailClient.Check(const TokenJson: string): string;
var
  Token: TOAuthMailUtf8;
  P, OutJson: PAnsiChar;
  Status: Cardinal;
begin
  Token := Encode(TokenJson, 'token');
  if Token = '' then P := nil else P := PAnsiChar(Token);
  OutJson := nil;
  Status := oauthmail_check(H, P, OutJson);
  Result := Take(OutJson);
  if (Status = OAUTHMAIL_OK) then Exit;
  { A report is a result, also with a failed step; an error document (or a cancel) raises. }
  if (Status = OAUTHMAIL_CANCELLED) or (JsonGetRaw(Result, 'steps') = '') then
  begin
    if (JsonGetRaw(Result, 'steps') <> '') and (JsonGetRaw(Result, 'error') <> '') then
      raise EOAuthMail.CreateStatus(Status, '{"error": ' + JsonGetRaw(Result, 'error') + '}');
    raise EOAuthMail.CreateStatus(Status, Result);
  end;
end;

function TOAuthMailClient.StoreList: string;
var
  OutJson: PAnsiChar;
begin
  OutJson := nil;
  Result := Finish(oauthmail_store_list(H, OutJson), OutJson);
end;

function TOAuthMailClient.StoreRemove(const Account: string): string;
var
  A: TOAuthMailUtf8;
  OutJson: PAnsiChar;
begin
  A := Encode(Account, 'account');
  OutJson := nil;
  Result := Finish(oauthmail_store_remove(H, PAnsiChar(A), OutJson), OutJson);
end;

procedure TOAuthMailClient.SetProgress(Progress: TOAuthMailProgress);
var
  Holder: PCallbackHolder;
  OutJson: PAnsiChar;
begin
  OutJson := nil;
  if not Assigned(Progress) then
  begin
    CheckStatus(oauthmail_client_set_progress(H, nil, nil), OutJson);
    Exit;
  end;
  RequireThreads;
  Holder := AddHolder;
  Holder^.Progress := Progress;
  CheckStatus(oauthmail_client_set_progress(H, ProgressTrampoline, Holder), OutJson);
end;

function TOAuthMailClient.Revoke(const TokenJson: string): string;
var
  Token: TOAuthMailUtf8;
  OutJson: PAnsiChar;
begin
  Token := Encode(TokenJson, 'token');
  OutJson := nil;
  Result := Finish(oauthmail_revoke(H, PAnsiChar(Token), OutJson), OutJson);
end;

procedure TOAuthMailClient.Cancel;
begin
  oauthmail_cancel(FHandle);  { NULL is a no-op }
end;

procedure TOAuthMailClient.SetUrlOpener(Opener: TOAuthMailUrlOpener);
var
  Holder: PCallbackHolder;
  OutJson: PAnsiChar;
begin
  OutJson := nil;
  if not Assigned(Opener) then
  begin
    CheckStatus(oauthmail_client_set_url_opener(H, nil, nil), OutJson);
    Exit;
  end;
  RequireThreads;
  Holder := AddHolder;
  Holder^.Opener := Opener;
  CheckStatus(oauthmail_client_set_url_opener(H, UrlOpenerTrampoline, Holder), OutJson);
end;

procedure TOAuthMailClient.SetLogger(Logger: TOAuthMailLogger; MaxLevel: Cardinal);
var
  Holder: PCallbackHolder;
  OutJson: PAnsiChar;
begin
  OutJson := nil;
  if not Assigned(Logger) then
  begin
    CheckStatus(oauthmail_client_set_logger(H, nil, nil, 0), OutJson);
    Exit;
  end;
  RequireThreads;
  Holder := AddHolder;
  Holder^.Logger := Logger;
  CheckStatus(oauthmail_client_set_logger(H, LoggerTrampoline, Holder, MaxLevel), OutJson);
end;

{ The end (exclusive) of the JSON value starting at Json[I], or 0 when malformed. Works on the
  string's characters: the structural ones are ASCII in every string type. }
function SkipJsonValue(const Json: string; I: Integer): Integer;
var
  Depth: Integer;
  InString: Boolean;
begin
  Result := 0;
  if I > Length(Json) then Exit;
  if (Json[I] <> '{') and (Json[I] <> '[') and (Json[I] <> '"') then
  begin
    while (I <= Length(Json)) and (Json[I] <> ',') and (Json[I] <> '}') and (Json[I] <> ']') and
      (Json[I] <> ' ') and (Json[I] <> #10) and (Json[I] <> #13) and (Json[I] <> #9) do Inc(I);
    Result := I;
    Exit;
  end;
  Depth := 0;
  InString := False;
  while I <= Length(Json) do
  begin
    if InString then
    begin
      if Json[I] = '\' then Inc(I)
      else if Json[I] = '"' then
      begin
        InString := False;
        if Depth = 0 then
        begin
          Result := I + 1;
          Exit;
        end;
      end;
    end
    else
      case Json[I] of
        '"': InString := True;
        '{', '[': Inc(Depth);
        '}', ']':
          begin
            Dec(Depth);
            if Depth = 0 then
            begin
              Result := I + 1;
              Exit;
            end;
          end;
      end;
    Inc(I);
  end;
end;

function JsonGetRaw(const Json, Key: string): string;
var
  I, J, E: Integer;
  Q: string;
begin
  Result := '';
  Q := JsonQuote(Key);
  I := 1;
  while I <= Length(Json) do
  begin
    if Json[I] <> '"' then
    begin
      Inc(I);
      Continue;
    end;
    E := SkipJsonValue(Json, I);  { the string at I }
    if E = 0 then Exit;
    J := E;
    while (J <= Length(Json)) and ((Json[J] = ' ') or (Json[J] = #10) or (Json[J] = #13) or (Json[J] = #9)) do Inc(J);
    if (J <= Length(Json)) and (Json[J] = ':') and (Copy(Json, I, E - I) = Q) then
    begin
      Inc(J);
      while (J <= Length(Json)) and ((Json[J] = ' ') or (Json[J] = #10) or (Json[J] = #13) or (Json[J] = #9)) do Inc(J);
      E := SkipJsonValue(Json, J);
      if E > J then Result := Copy(Json, J, E - J);
      Exit;
    end;
    I := E;
  end;
end;

{ The JSON text of the member Key of the object Obj, at its top level only, or ''. }
function JsonMember(const Obj, Key: string): string;
var
  I, E: Integer;
  Q: string;

  procedure Space;
  begin
    while (I <= Length(Obj)) and ((Obj[I] = ' ') or (Obj[I] = #10) or (Obj[I] = #13) or (Obj[I] = #9)) do Inc(I);
  end;

begin
  Result := '';
  Q := JsonQuote(Key);
  I := 1;
  Space;
  if (I > Length(Obj)) or (Obj[I] <> '{') then Exit;
  Inc(I);
  while True do
  begin
    Space;
    if (I > Length(Obj)) or (Obj[I] <> '"') then Exit;
    E := SkipJsonValue(Obj, I);
    if E = 0 then Exit;
    if Copy(Obj, I, E - I) = Q then
    begin
      I := E;
      Space;
      if (I > Length(Obj)) or (Obj[I] <> ':') then Exit;
      Inc(I);
      Space;
      E := SkipJsonValue(Obj, I);
      if E > I then Result := Copy(Obj, I, E - I);
      Exit;
    end;
    I := E;
    Space;
    if (I > Length(Obj)) or (Obj[I] <> ':') then Exit;
    Inc(I);
    Space;
    E := SkipJsonValue(Obj, I);
    if E = 0 then Exit;
    I := E;
    Space;
    if (I > Length(Obj)) or (Obj[I] <> ',') then Exit;
    Inc(I);
  end;
end;

type
  TJsonItems = array of string;

{ The JSON texts of the elements of the array Arr ('' or not an array: none). }
function JsonItems(const Arr: string): TJsonItems;
var
  I, E: Integer;

  procedure Space;
  begin
    while (I <= Length(Arr)) and ((Arr[I] = ' ') or (Arr[I] = #10) or (Arr[I] = #13) or (Arr[I] = #9)) do Inc(I);
  end;

begin
  Result := nil;
  I := 1;
  Space;
  if (I > Length(Arr)) or (Arr[I] <> '[') then Exit;
  Inc(I);
  Space;
  if (I <= Length(Arr)) and (Arr[I] = ']') then Exit;
  while I <= Length(Arr) do
  begin
    E := SkipJsonValue(Arr, I);
    if E <= I then Exit;
    SetLength(Result, Length(Result) + 1);
    Result[High(Result)] := Copy(Arr, I, E - I);
    I := E;
    Space;
    if (I > Length(Arr)) or (Arr[I] <> ',') then Exit;
    Inc(I);
    Space;
  end;
end;

{ A member's value as a string (a JSON string decoded; '' for null or another type), an integer
  (0 for null) and a Boolean. }
function MemberString(const Obj, Key: string): string;
var
  Raw: string;
begin
  Raw := JsonMember(Obj, Key);
  if (Raw <> '') and (Raw[1] = '"') then Result := JsonGetString('{"v": ' + Raw + '}', 'v') else Result := '';
end;

function MemberInt(const Obj, Key: string): Int64;
begin
  Result := StrToInt64Def(JsonMember(Obj, Key), 0);
end;

function MemberBool(const Obj, Key: string): Boolean;
begin
  Result := JsonMember(Obj, Key) = 'true';
end;

function OAuthMailAccountRef(const Email: string): string;
begin
  Result := '{"account": ' + JsonQuote(Email) + '}';
end;

function OAuthMailSubjectRef(const Email: string): string;
begin
  Result := '{"subject": ' + JsonQuote(Email) + '}';
end;

function OAuthMailParseCheck(const Json: string; Status: Cardinal): TOAuthMailCheckResult;
var
  Items: TJsonItems;
  I: Integer;
  Err: string;
begin
  Result.Json := Json;
  Result.Ok := MemberBool(Json, 'ok');
  Result.Status := Status;
  Result.Failed := -1;
  Items := JsonItems(JsonMember(Json, 'steps'));
  SetLength(Result.Steps, Length(Items));
  for I := 0 to High(Items) do
    with Result.Steps[I] do
    begin
      Step := MemberString(Items[I], 'step');
      Target := MemberString(Items[I], 'target');
      Ok := MemberBool(Items[I], 'ok');
      Ms := MemberInt(Items[I], 'ms');
      Detail := MemberString(Items[I], 'detail');
      Err := JsonMember(Items[I], 'error');
      if (Err <> '') and (Err[1] = '{') then
      begin
        ErrorJson := '{"error": ' + Err + '}';
        ErrorStatus := Cardinal(MemberInt(Err, 'code'));
        ErrorMessage := MemberString(Err, 'message');
        Hint := MemberString(Err, 'hint');
        HintId := MemberString(Err, 'hint_id');
        Field := MemberString(Err, 'field');
      end
      else
      begin
        ErrorJson := '';
        ErrorStatus := OAUTHMAIL_OK;
        ErrorMessage := '';
        Hint := '';
        HintId := '';
        Field := '';
      end;
      if not Ok and (Result.Failed < 0) then Result.Failed := I;
    end;
end;

function OAuthMailParseAccounts(const Json: string): TOAuthMailAccounts;
var
  Items: TJsonItems;
  I: Integer;
begin
  Result := nil;
  Items := JsonItems(JsonMember(Json, 'accounts'));
  SetLength(Result, Length(Items));
  for I := 0 to High(Items) do
  begin
    Result[I].Account := MemberString(Items[I], 'account');
    Result[I].Provider := MemberString(Items[I], 'provider');
    Result[I].Scope := MemberString(Items[I], 'scope');
    Result[I].AuthorizedAt := MemberInt(Items[I], 'authorized_at');
    Result[I].ExpiresAt := MemberInt(Items[I], 'expires_at');
    Result[I].RefreshedAt := MemberInt(Items[I], 'refreshed_at');
  end;
end;

{ TOAuthMailMessage }

constructor TOAuthMailMessage.Create;
begin
  inherited Create;
  FRecipients := TStringList.Create;
  FCC := TStringList.Create;
  FBCC := TStringList.Create;
  FHeaders := TStringList.Create;
end;

destructor TOAuthMailMessage.Destroy;
begin
  FRecipients.Free;
  FCC.Free;
  FBCC.Free;
  FHeaders.Free;
  inherited Destroy;
end;

procedure TOAuthMailMessage.SetStrings(var Field: TStrings; Value: TStrings);
begin
  Field.Assign(Value);
end;

procedure TOAuthMailMessage.SetRecipients(Value: TStrings);
begin
  SetStrings(FRecipients, Value);
end;

procedure TOAuthMailMessage.SetCC(Value: TStrings);
begin
  SetStrings(FCC, Value);
end;

procedure TOAuthMailMessage.SetBCC(Value: TStrings);
begin
  SetStrings(FBCC, Value);
end;

procedure TOAuthMailMessage.SetHeaders(Value: TStrings);
begin
  SetStrings(FHeaders, Value);
end;

function TOAuthMailMessage.GetAttachmentCount: Integer;
begin
  Result := Length(FAttachments);
end;

procedure TOAuthMailMessage.Assign(Source: TPersistent);
var
  M: TOAuthMailMessage;
  I: Integer;
begin
  if not (Source is TOAuthMailMessage) then
  begin
    inherited Assign(Source);
    Exit;
  end;
  M := TOAuthMailMessage(Source);
  FFrom := M.FFrom;
  FReplyTo := M.FReplyTo;
  FSubject := M.FSubject;
  FText := M.FText;
  FHtml := M.FHtml;
  FRecipients.Assign(M.FRecipients);
  FCC.Assign(M.FCC);
  FBCC.Assign(M.FBCC);
  FHeaders.Assign(M.FHeaders);
  SetLength(FAttachments, Length(M.FAttachments));
  for I := 0 to High(M.FAttachments) do FAttachments[I] := M.FAttachments[I];
end;

procedure TOAuthMailMessage.AddAttachment(const Path, FileName, ContentType: string);
begin
  SetLength(FAttachments, Length(FAttachments) + 1);
  FAttachments[High(FAttachments)].Path := Path;
  FAttachments[High(FAttachments)].FileName := FileName;
  FAttachments[High(FAttachments)].ContentType := ContentType;
end;

procedure TOAuthMailMessage.ClearAttachments;
begin
  FAttachments := nil;
end;

procedure TOAuthMailMessage.Clear;
begin
  FFrom := '';
  FReplyTo := '';
  FSubject := '';
  FText := '';
  FHtml := '';
  FRecipients.Clear;
  FCC.Clear;
  FBCC.Clear;
  FHeaders.Clear;
  ClearAttachments;
end;

function JsonList(L: TStrings): string;
var
  I: Integer;
begin
  Result := '[';
  for I := 0 to L.Count - 1 do
    if Trim(L[I]) <> '' then
    begin
      if Result <> '[' then Result := Result + ', ';
      Result := Result + JsonQuote(Trim(L[I]));
    end;
  Result := Result + ']';
end;

{ Appends ', "Name": "Value"' to Acc unless Value is empty. }
procedure Member(var Acc: string; const Name, Value: string);
begin
  if Value <> '' then Acc := Acc + ', ' + JsonQuote(Name) + ': ' + JsonQuote(Value);
end;

function TOAuthMailMessage.AsJson: string;
var
  I: Integer;
  A, Hs: string;
begin
  Result := '{"from": ' + JsonQuote(FFrom) + ', "to": ' + JsonList(FRecipients);
  if FCC.Count > 0 then Result := Result + ', "cc": ' + JsonList(FCC);
  if FBCC.Count > 0 then Result := Result + ', "bcc": ' + JsonList(FBCC);
  Member(Result, 'reply_to', FReplyTo);
  Result := Result + ', "subject": ' + JsonQuote(FSubject);
  Member(Result, 'text', FText);
  Member(Result, 'html', FHtml);
  if Length(FAttachments) > 0 then
  begin
    A := '';
    for I := 0 to High(FAttachments) do
    begin
      if A <> '' then A := A + ', ';
      A := A + '{"path": ' + JsonQuote(FAttachments[I].Path);
      if FAttachments[I].FileName <> '' then A := A + ', "filename": ' + JsonQuote(FAttachments[I].FileName);
      if FAttachments[I].ContentType <> '' then A := A + ', "content_type": ' + JsonQuote(FAttachments[I].ContentType);
      A := A + '}';
    end;
    Result := Result + ', "attachments": [' + A + ']';
  end;
  if FHeaders.Count > 0 then
  begin
    Hs := '';
    for I := 0 to FHeaders.Count - 1 do
      if FHeaders.Names[I] <> '' then
      begin
        if Hs <> '' then Hs := Hs + ', ';
        Hs := Hs + JsonQuote(FHeaders.Names[I]) + ': ' + JsonQuote(FHeaders.ValueFromIndex[I]);
      end;
    Result := Result + ', "headers": {' + Hs + '}';
  end;
  Result := Result + '}';
end;

{ TOAuthMailTimeouts }

procedure TOAuthMailTimeouts.Assign(Source: TPersistent);
begin
  if Source is TOAuthMailTimeouts then
  begin
    FAuthorize := TOAuthMailTimeouts(Source).FAuthorize;
    FConnect := TOAuthMailTimeouts(Source).FConnect;
    FIO := TOAuthMailTimeouts(Source).FIO;
  end
  else
    inherited Assign(Source);
end;

{ TOAuthMail }

type
  TComponentLock = {$IFDEF FPC}TRTLCriticalSection{$ELSE}TCriticalSection{$ENDIF};
  PComponentLock = ^TComponentLock;

procedure CompEnter(P: Pointer);
begin
  {$IFDEF FPC}EnterCriticalSection(PComponentLock(P)^);{$ELSE}PComponentLock(P)^.Enter;{$ENDIF}
end;

procedure CompLeave(P: Pointer);
begin
  {$IFDEF FPC}LeaveCriticalSection(PComponentLock(P)^);{$ELSE}PComponentLock(P)^.Leave;{$ENDIF}
end;

function OnMainThread: Boolean;
begin
  {$IF Defined(FPC) or not Defined(MSWINDOWS)}
  Result := GetCurrentThreadId = MainThreadID;
  {$ELSE}
  Result := Windows.GetCurrentThreadId = MainThreadID;
  {$IFEND}
end;

constructor TOAuthMail.Create(AOwner: TComponent);
var
  L: PComponentLock;
begin
  inherited Create(AOwner);
  FProvider := 'google';
  FLogLevel := OAUTHMAIL_LOG_INFO;
  FTimeouts := TOAuthMailTimeouts.Create;
  FRetired := TList.Create;
  New(L);
  {$IFDEF FPC}InitCriticalSection(L^);{$ELSE}L^ := TCriticalSection.Create;{$ENDIF}
  FLock := L;
end;

destructor TOAuthMail.Destroy;
var
  I: Integer;
begin
  FClient.Free;  { first: after it returns no callback runs }
  for I := 0 to FRetired.Count - 1 do TObject(FRetired[I]).Free;
  FRetired.Free;
  FTimeouts.Free;
  if FLock <> nil then
  begin
    {$IFDEF FPC}DoneCriticalSection(PComponentLock(FLock)^);{$ELSE}PComponentLock(FLock)^.Free;{$ENDIF}
    Dispose(PComponentLock(FLock));
  end;
  inherited Destroy;
end;

procedure TOAuthMail.SetTimeouts(Value: TOAuthMailTimeouts);
begin
  FTimeouts.Assign(Value);
end;

function ComponentError(Status: Cardinal; const Field, Msg, Hint: string): EOAuthMail;
var
  Doc: string;
begin
  Doc := '{"error": {"status": ' + JsonQuote(StatusNameOffline(Status)) + ', "code": ' + IntToStr(Status) +
    ', "message": ' + JsonQuote(Msg) + ', "hint": ' + JsonQuote(Hint);
  if Field <> '' then Doc := Doc + ', "field": ' + JsonQuote(Field);
  Result := EOAuthMail.CreateStatus(Status, Doc + '}}');
end;

procedure Seconds(var Acc: string; const Name: string; Value: Integer);
begin
  if Value <= 0 then Exit;
  if Acc <> '' then Acc := Acc + ', ';
  Acc := Acc + JsonQuote(Name) + ': ' + IntToStr(Value);
end;

{ The members of a JSON object text, without its braces ('' when empty); raises naming Field
  when Text is not an object. }
function ObjectMembers(const Text, Field, Hint: string): string;
var
  T: string;
begin
  T := Trim(Text);
  if T = '' then
  begin
    Result := '';
    Exit;
  end;
  if (Length(T) < 2) or (T[1] <> '{') or (T[Length(T)] <> '}') then
    raise ComponentError(OAUTHMAIL_INVALID_ARGUMENT, Field, Field + ' is not a JSON object', Hint);
  Result := Trim(Copy(T, 2, Length(T) - 2));
end;

function TOAuthMail.ConfigJson: string;
var
  Id, Secret, Secrets, T, Base, Extra, Own: string;

  procedure Add(const Prop, Name, Value: string);
  begin
    if Value = '' then Exit;
    if JsonGetRaw('{' + Base + '}', Name) <> '' then
      raise ComponentError(OAUTHMAIL_INVALID_ARGUMENT, Prop, 'both ' + Prop + ' and ConfigFile set "' + Name + '"',
        'Set ' + Prop + ' or put "' + Name + '" in ' + FConfigFile + ', not both.');
    Member(Own, Name, Value);
  end;

begin
  Base := '';
  if FConfigFile <> '' then
  begin
    try
      Base := OAuthMailReadFile(FConfigFile);
    except
      on E: Exception do
        raise ComponentError(OAUTHMAIL_IO, 'ConfigFile', 'the configuration file ' + FConfigFile +
          ' could not be read: ' + E.Message, 'Set ConfigFile to the path of a readable configuration file.');
    end;
    Base := ObjectMembers(Base, 'ConfigFile', 'The configuration file must hold one JSON object.');
  end;
  Id := FClientId;
  Secret := FClientSecret;
  if FClientSecretsFile <> '' then
  begin
    try
      Secrets := OAuthMailReadFile(FClientSecretsFile);
    except
      on E: Exception do
        raise ComponentError(OAUTHMAIL_IO, 'ClientSecretsFile', 'the client secrets file ' + FClientSecretsFile +
          ' could not be read: ' + E.Message, 'Download the OAuth client''s JSON file again and set ClientSecretsFile to its path.');
    end;
    // Google's file: {"installed": {"client_id": ..., "client_secret": ..., ...}}
    if Id = '' then Id := JsonGetString(Secrets, 'client_id');
    if Secret = '' then Secret := JsonGetString(Secrets, 'client_secret');
    if Id = '' then
      raise ComponentError(OAUTHMAIL_INVALID_ARGUMENT, 'ClientSecretsFile', FClientSecretsFile + ' has no client_id',
        'Use the JSON file of a Desktop OAuth client, as downloaded from the Google Cloud console.');
  end;
  Own := '';
  if JsonGetRaw('{' + Base + '}', 'provider') = '' then Member(Own, 'provider', FProvider);
  Add('ClientId', 'client_id', Id);
  Add('ClientSecret', 'client_secret', Secret);
  Add('Transport', 'transport', FTransport);
  Add('ServiceAccountFile', 'service_account_file', FServiceAccountFile);
  if (FStoreProtect <> '') and (FStorePath = '') then
    raise ComponentError(OAUTHMAIL_INVALID_ARGUMENT, 'StoreProtect', 'StoreProtect is set but StorePath is not',
      'Set StorePath to the token store file, or clear StoreProtect.');
  if FStorePath <> '' then
  begin
    Add('StorePath', 'store', 'x');  { only the conflict check; the member is written here }
    Own := Copy(Own, 1, Length(Own) - Length(', "store": "x"')) + ', "store": {"path": ' + JsonQuote(FStorePath);
    if FStoreProtect <> '' then Own := Own + ', "protect": ' + JsonQuote(FStoreProtect);
    Own := Own + '}';
  end;
  Add('UILanguage', 'ui_language', FUILanguage);
  Add('Proxy', 'proxy', FProxy);
  if FExtraCAFile <> '' then
  begin
    Add('ExtraCAFile', 'tls', 'x');  { only the conflict check; the member is written below }
    Own := Copy(Own, 1, Length(Own) - Length(', "tls": "x"')) + ', "tls": {"extra_ca_file": ' + JsonQuote(FExtraCAFile) + '}';
  end;
  T := '';
  Seconds(T, 'authorize_s', FTimeouts.AuthorizeSeconds);
  Seconds(T, 'connect_s', FTimeouts.ConnectSeconds);
  Seconds(T, 'io_s', FTimeouts.IOSeconds);
  if T <> '' then
  begin
    Add('Timeouts', 'timeouts', 'x');
    Own := Copy(Own, 1, Length(Own) - Length(', "timeouts": "x"')) + ', "timeouts": {' + T + '}';
  end;
  Extra := ObjectMembers(FExtraConfig, 'ExtraConfig',
    'Set ExtraConfig to a JSON object such as {"redirect": {"port": 8765}}, or leave it empty.');
  Result := Base;
  if Own <> '' then
  begin
    if Result <> '' then Result := Result + Own else Result := Copy(Own, 3, Length(Own));
  end;
  if Extra <> '' then
  begin
    if Result <> '' then Result := Result + ', ' + Extra else Result := Extra;
  end;
  Result := '{' + Result + '}';
end;

function TOAuthMail.GetClient: TOAuthMailClient;
var
  Config: string;
  C: TOAuthMailClient;
begin
  Config := ConfigJson;
  CompEnter(FLock);
  try
    if (FClient = nil) or (Config <> FClientConfig) then
    begin
      C := TOAuthMailClient.Create(Config);
      try
        if Assigned(FOnOpenUrl) then C.SetUrlOpener(OpenUrl);
        if Assigned(FOnLog) then C.SetLogger(Log, FLogLevel);
        if Assigned(FOnProgress) then C.SetProgress(Progress);  { only then: older DLLs lack it }
      except
        C.Free;
        raise;
      end;
      { A call on another thread may still use the old client: keep it until Destroy. }
      if FClient <> nil then FRetired.Add(FClient);
      FClient := C;
      FClientConfig := Config;
      FProgressSet := Assigned(FOnProgress);
    end;
    Result := FClient;
  finally
    CompLeave(FLock);
  end;
end;

type
  { One event handed to the main thread (SynchronizeEvents): its own data, so no lock is held
    while the main thread runs the handler. }
  TSyncCall = class
    Owner: TOAuthMail;
    Url, Token: string;
    Opened: Boolean;
    BytesDone, BytesTotal: Int64;
    Cancel: Boolean;
    procedure OpenUrl;
    procedure TokenChanged;
    procedure Progress;
  end;

procedure TSyncCall.Progress;
begin
  if Assigned(Owner.FOnProgress) then Owner.FOnProgress(Owner, BytesDone, BytesTotal, Cancel);
end;

procedure TSyncCall.OpenUrl;
begin
  Opened := True;
  if Assigned(Owner.FOnOpenUrl) then Owner.FOnOpenUrl(Owner, Url, Opened) else Opened := False;
end;

procedure TSyncCall.TokenChanged;
begin
  if Assigned(Owner.FOnTokenChanged) then Owner.FOnTokenChanged(Owner, Token);
end;

function TOAuthMail.OpenUrl(const Url: string): Boolean;
var
  Opened: Boolean;
  Call: TSyncCall;
begin
  if not Assigned(FOnOpenUrl) then
  begin
    Result := False;  { the event was removed after the client was made: decline }
    Exit;
  end;
  if FSynchronizeEvents and not OnMainThread then
  begin
    Call := TSyncCall.Create;
    try
      Call.Owner := Self;
      Call.Url := Url;
      TThread.Synchronize(nil, Call.OpenUrl);  { re-raises here what the event raised }
      Result := Call.Opened;
    finally
      Call.Free;
    end;
    Exit;
  end;
  Opened := True;
  FOnOpenUrl(Self, Url, Opened);
  Result := Opened;
end;

procedure TOAuthMail.Progress(BytesDone, BytesTotal: Int64; var Cancel: Boolean);
var
  Call: TSyncCall;
begin
  if not Assigned(FOnProgress) then Exit;  { removed after the client was made: go on }
  if FSynchronizeEvents and not OnMainThread then
  begin
    Call := TSyncCall.Create;
    try
      Call.Owner := Self;
      Call.BytesDone := BytesDone;
      Call.BytesTotal := BytesTotal;
      Call.Cancel := False;
      TThread.Synchronize(nil, Call.Progress);  { re-raises here what the event raised }
      Cancel := Call.Cancel;
    finally
      Call.Free;
    end;
    Exit;
  end;
  FOnProgress(Self, BytesDone, BytesTotal, Cancel);
end;

procedure TOAuthMail.Log(Level: Cardinal; const Msg: string);
begin
  if not Assigned(FOnLog) then Exit;
  if FSynchronizeEvents and not OnMainThread then
  begin
    CompEnter(FLock);
    try
      SetLength(FPending, Length(FPending) + 1);
      FPending[High(FPending)].Level := Level;
      FPending[High(FPending)].Msg := Msg;
    finally
      CompLeave(FLock);
    end;
    Exit;
  end;
  FOnLog(Self, Level, Msg);
end;

{ On the main thread: hands the buffered log lines to OnLog, in order. }
procedure TOAuthMail.DeliverPending;
var
  Lines: array of TOAuthMailLogLine;
  I: Integer;
begin
  CompEnter(FLock);
  try
    Lines := FPending;
    FPending := nil;
  finally
    CompLeave(FLock);
  end;
  for I := 0 to High(Lines) do
    try
      if Assigned(FOnLog) then FOnLog(Self, Lines[I].Level, Lines[I].Msg);
    except
      { as for lines delivered at once: an exception in OnLog is ignored }
    end;
end;

{ At the end of every method: delivers what SynchronizeEvents buffered. }
procedure TOAuthMail.Finish;
var
  Any: Boolean;
begin
  CompEnter(FLock);
  try
    Any := Length(FPending) > 0;
  finally
    CompLeave(FLock);
  end;
  if not Any then Exit;
  if OnMainThread then DeliverPending else TThread.Synchronize(nil, DeliverPending);
end;

procedure TOAuthMail.TokenChanged(const NewToken: string);
var
  Call: TSyncCall;
begin
  FToken := NewToken;
  if not Assigned(FOnTokenChanged) then Exit;
  if FSynchronizeEvents and not OnMainThread then
  begin
    Call := TSyncCall.Create;
    try
      Call.Owner := Self;
      Call.Token := NewToken;
      TThread.Synchronize(nil, Call.TokenChanged);
    finally
      Call.Free;
    end;
  end
  else
    FOnTokenChanged(Self, NewToken);
end;

function TOAuthMail.IsReference: Boolean;
begin
  Result := (FAccount <> '') or (FSubject <> '');
end;

{ What the calls pass as the token: the reference Account / Subject name, else Token. }
function TOAuthMail.NeedToken: string;
begin
  if (FAccount <> '') and (FSubject <> '') then
    raise ComponentError(OAUTHMAIL_INVALID_ARGUMENT, 'Subject', 'both Account and Subject are set',
      'Set Account (a token store''s account) or Subject (a service account''s user), not both.');
  if FSubject <> '' then
  begin
    Result := OAuthMailSubjectRef(FSubject);
    Exit;
  end;
  if FAccount <> '' then
  begin
    Result := OAuthMailAccountRef(FAccount);
    Exit;
  end;
  Result := FToken;
  if Result = '' then
    raise ComponentError(OAUTHMAIL_INVALID_ARGUMENT, 'token', 'there is no token: call Authorize first, or set Token',
      'Authorize the account once, store Token protected and set it again before sending.');
end;

function TOAuthMail.Authorize(const LoginHint: string): string;
var
  Options, NewToken: string;
begin
  try
    if LoginHint <> '' then Options := '{"login_hint": ' + JsonQuote(LoginHint) + '}' else Options := '';
    NewToken := GetClient.Authorize(Options);
    Result := JsonGetString(NewToken, 'email');
    TokenChanged(NewToken);
  finally
    Finish;
  end;
end;

{ The client, with the progress handler registered when OnProgress was assigned after it was made. }
function TOAuthMail.ProgressClient: TOAuthMailClient;
begin
  Result := GetClient;
  if not Assigned(FOnProgress) then Exit;
  CompEnter(FLock);
  try
    if (Result = FClient) and not FProgressSet then
    begin
      Result.SetProgress(Progress);
      FProgressSet := True;
    end;
  finally
    CompLeave(FLock);
  end;
end;

function TOAuthMail.Send(Msg: TOAuthMailMessage): string;
var
  Refreshed: string;
begin
  try
    if Msg = nil then
      raise ComponentError(OAUTHMAIL_INVALID_ARGUMENT, 'message', 'Send needs a message', 'Pass a TOAuthMailMessage.');
    FLastResult := ProgressClient.Send(NeedToken, Msg.AsJson);
    Result := JsonGetString(FLastResult, 'message_id');
    Refreshed := JsonGetRaw(FLastResult, 'token');
    if not IsReference and (Refreshed <> '') and (Refreshed[1] = '{') then TokenChanged(Refreshed);
  finally
    Finish;
  end;
end;

procedure TOAuthMail.Refresh;
var
  NewToken: string;
begin
  try
    NewToken := GetClient.Refresh(NeedToken);
    if not IsReference then TokenChanged(NewToken);  { with a reference the store keeps it }
  finally
    Finish;
  end;
end;

procedure TOAuthMail.Revoke;
begin
  try
    FLastResult := GetClient.Revoke(NeedToken);
    if not IsReference then TokenChanged('');
  finally
    Finish;
  end;
end;

function TOAuthMail.Check(WithToken: Boolean): TOAuthMailCheckResult;
var
  T, Report: string;
  Status: Cardinal;
begin
  try
    T := '';
    if WithToken and (IsReference or (FToken <> '')) then T := NeedToken;
    Report := GetClient.Check(T);
    if MemberBool(Report, 'ok') then Status := OAUTHMAIL_OK else Status := OAUTHMAIL_INTERNAL;
    Result := OAuthMailParseCheck(Report, Status);
    if (Result.Failed >= 0) and (Result.Steps[Result.Failed].ErrorStatus <> OAUTHMAIL_OK) then
      Result.Status := Result.Steps[Result.Failed].ErrorStatus;
  finally
    Finish;
  end;
end;

function TOAuthMail.StoreList: TOAuthMailAccounts;
begin
  try
    Result := OAuthMailParseAccounts(GetClient.StoreList);
  finally
    Finish;
  end;
end;

function TOAuthMail.StoreRemove(const Account: string): Boolean;
begin
  try
    Result := MemberBool(GetClient.StoreRemove(Account), 'removed');
  finally
    Finish;
  end;
end;

procedure TOAuthMail.Cancel;
var
  I: Integer;
begin
  CompEnter(FLock);
  try
    if FClient <> nil then FClient.Cancel;
    for I := 0 to FRetired.Count - 1 do TOAuthMailClient(FRetired[I]).Cancel;
  finally
    CompLeave(FLock);
  end;
end;

procedure Register;
begin
  RegisterComponents('OAuthMail', [TOAuthMail]);
end;

initialization
  {$IFDEF FPC}InitCriticalSection(LoadLock);{$ELSE}LoadLock := TCriticalSection.Create;{$ENDIF}
finalization
  { The library stays loaded until the process ends: a callback may still be returning into it. }
  {$IFDEF FPC}DoneCriticalSection(LoadLock);{$ELSE}LoadLock.Free;{$ENDIF}
end.
