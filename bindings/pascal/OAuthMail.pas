(* OAuthMail.pas: liboauthmail for Delphi and Free Pascal.

  Compilers:
  - Delphi 2009 and later (string = UnicodeString), 32- and 64-bit Windows: the main target.
  - Free Pascal 3.2 with -Mdelphi (string = AnsiString) and -Mdelphiunicode (string =
    UnicodeString); tested on Linux in CI.
  - Delphi 7 .. 2007 (string = AnsiString in the ANSI code page): the {$IFNDEF UNICODE} branches
    convert between the ANSI code page and UTF-8 through WideString. Not compiled here (no Delphi
    on Linux); see bindings/README.md.

  Usage:
    Client := TOAuthMailClient.Create(ConfigJson);          // raises EOAuthMail
    try
      Token := Client.Authorize('{"login_hint": "office@firma.ro"}');   // opens the browser, waits
      Result := Client.Send(Token, MessageJson);
    finally
      Client.Free;
    end;

  Documents are JSON text in and out (see API.md); JsonQuote and JsonGetString help to build and
  read them without a JSON library. A failed call raises EOAuthMail (Status, StatusName,
  ErrorJson, Field, Hint).

  Interop rules this unit follows (each one breaks real hosts when ignored):
  - cdecl on every import and callback: Delphi's default is "register", and stdcall is wrong too.
  - Strings cross as NUL-terminated UTF-8: UTF8Encode/UTF8ToString (Unicode compilers) or
    UTF8Encode(WideString(S))/UTF8Decode (ANSI Delphi), never PChar(S) (UTF-16 on Delphi 2009+)
    and never an implicit AnsiString conversion (it uses the ANSI code page / the locale).
  - Strings the library returns are copied, then released with oauthmail_string_free (never
    FreeMem/StrDispose: another module's heap).
  - Callbacks may run on threads the library created: IsMultiThread is set, exceptions are caught
    in the trampolines, and on Unix FPC programs must list cthreads FIRST in their uses clause
    (SetLogger/SetUrlOpener raise EOAuthMail when no thread manager is installed).
  - int32_t = Integer, uint32_t = Cardinal, handles = Pointer (LongInt/LongWord change size on
    64-bit POSIX Delphi; no enums or Booleans cross the boundary). *)
unit OAuthMail;

{$IFDEF FPC}
  {$IFNDEF FPC_DELPHI}{$MODE DELPHI}{$ENDIF}  { keep -Mdelphi / -Mdelphiunicode from the command line }
  {$H+}
{$ENDIF}

interface

uses
  SysUtils;

const
  {$IFDEF MSWINDOWS}
  OAUTHMAIL_LIB = 'oauthmail.dll';       { 32-bit programs need the 32-bit DLL }
  {$ELSE}
    {$IFDEF FPC}
  OAUTHMAIL_LIB = 'oauthmail';           { FPC links -loauthmail: liboauthmail.so / .dylib }
    {$ELSE}
      {$IFDEF MACOS}
  OAUTHMAIL_LIB = 'liboauthmail.dylib';
      {$ELSE}
  OAUTHMAIL_LIB = 'liboauthmail.so';
      {$ENDIF}
    {$ENDIF}
  {$ENDIF}

  { oauthmail_status values (fixed numbers, see API.md). }
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
  { NUL-terminated UTF-8 bytes as they cross the boundary. }
  {$IFDEF UNICODE}
  TOAuthMailUtf8 = UTF8String;
  {$ELSE}
  TOAuthMailUtf8 = AnsiString;
  {$ENDIF}

  { The C callback types (oauthmail_url_opener, oauthmail_logger). }
  TOAuthMailUrlOpenerProc = function(UserData: Pointer; Url: PAnsiChar): Integer; cdecl;
  TOAuthMailLoggerProc = procedure(UserData: Pointer; Level: Cardinal; Msg: PAnsiChar); cdecl;

{ The raw C API (include/oauthmail.h). Strings are PAnsiChar holding UTF-8. }
function oauthmail_version: PAnsiChar; cdecl; external OAUTHMAIL_LIB;
function oauthmail_status_name(Status: Cardinal): PAnsiChar; cdecl; external OAUTHMAIL_LIB;
function oauthmail_client_new(ConfigJson: PAnsiChar; var OutClient: Pointer; var OutJson: PAnsiChar): Cardinal; cdecl; external OAUTHMAIL_LIB;
procedure oauthmail_client_free(Client: Pointer); cdecl; external OAUTHMAIL_LIB;
function oauthmail_client_set_url_opener(Client: Pointer; Opener: TOAuthMailUrlOpenerProc; UserData: Pointer): Cardinal; cdecl; external OAUTHMAIL_LIB;
function oauthmail_client_set_logger(Client: Pointer; Logger: TOAuthMailLoggerProc; UserData: Pointer; MaxLevel: Cardinal): Cardinal; cdecl; external OAUTHMAIL_LIB;
function oauthmail_authorize(Client: Pointer; OptionsJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal; cdecl; external OAUTHMAIL_LIB;
function oauthmail_refresh(Client: Pointer; TokenJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal; cdecl; external OAUTHMAIL_LIB;
function oauthmail_send(Client: Pointer; TokenJson, MessageJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal; cdecl; external OAUTHMAIL_LIB;
function oauthmail_revoke(Client: Pointer; TokenJson: PAnsiChar; var OutJson: PAnsiChar): Cardinal; cdecl; external OAUTHMAIL_LIB;
procedure oauthmail_cancel(Client: Pointer); cdecl; external OAUTHMAIL_LIB;
procedure oauthmail_string_free(S: PAnsiChar); cdecl; external OAUTHMAIL_LIB;

type
  { A failed call, with the library's error document. }
  EOAuthMail = class(Exception)
  private
    FStatus: Cardinal;
    FStatusName: string;
    FErrorJson: string;
    FField: string;
    FHint: string;
  public
    constructor CreateStatus(AStatus: Cardinal; const AErrorJson: string; const Extra: string = '');
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
  end;

  { Opens the authorization URL; True when opened (False declines: Authorize raises CANCELLED). }
  TOAuthMailUrlOpener = function(const Url: string): Boolean of object;
  { Receives a log line (1 = error .. 5 = trace); never contains a secret. }
  TOAuthMailLogger = procedure(Level: Cardinal; const Msg: string) of object;

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
    { Opens the authorization URL instead of the system browser. Runs on the authorizing thread
      before the library waits for the redirect: return promptly. nil restores the browser. }
    procedure SetUrlOpener(Opener: TOAuthMailUrlOpener);
    { Log lines of level <= MaxLevel go to Logger, possibly on other threads. nil: logging off. }
    procedure SetLogger(Logger: TOAuthMailLogger; MaxLevel: Cardinal = OAUTHMAIL_LOG_INFO);
    { The C handle, for calls through the raw API. Still owned by this object. }
    property Handle: Pointer read FHandle;
  end;

{ The library's version, e.g. '0.1.0'. }
function OAuthMailVersion: string;
{ The lowercase name of a status code; 'unknown' for unknown values. }
function OAuthMailStatusName(Status: Cardinal): string;
{ A host string as UTF-8 bytes, and back. }
function OAuthMailToUtf8(const S: string): TOAuthMailUtf8;
function OAuthMailFromUtf8(const U: TOAuthMailUtf8): string;
{ Copies a NUL-terminated UTF-8 string (the caller keeps ownership of P). }
function OAuthMailPCharToString(P: PAnsiChar): string;
{ S as a JSON string literal, quotes included. }
function JsonQuote(const S: string): string;
{ The string value of the first member named Key anywhere in Json (keys inside string values
  never match), or Fallback. Meant for the flat documents this library returns. }
function JsonGetString(const Json, Key: string; const Fallback: string = ''): string;

implementation

type
  PCallbackHolder = ^TCallbackHolder;
  TCallbackHolder = record
    Client: TOAuthMailClient;
    Opener: TOAuthMailUrlOpener;
    Logger: TOAuthMailLogger;
  end;

function OAuthMailToUtf8(const S: string): TOAuthMailUtf8;
begin
{$IFDEF UNICODE}
  Result := UTF8Encode(S);
{$ELSE}
  {$IFDEF FPC}
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
  {$IFDEF FPC}
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

{ EOAuthMail }

constructor EOAuthMail.CreateStatus(AStatus: Cardinal; const AErrorJson: string; const Extra: string);
var
  Text: string;
begin
  FStatus := AStatus;
  FErrorJson := AErrorJson;
  FStatusName := OAuthMailStatusName(AStatus);
  FField := JsonGetString(AErrorJson, 'field');
  FHint := JsonGetString(AErrorJson, 'hint');
  Text := FStatusName + ' (' + IntToStr(AStatus) + '): ' + JsonGetString(AErrorJson, 'message', 'no details');
  if FField <> '' then Text := Text + ' [field ' + FField + ']';
  if Extra <> '' then Text := Text + ' (' + Extra + ')';
  inherited Create(Text);
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

procedure Check(Status: Cardinal; var OutJson: PAnsiChar);
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
  Check(Status, OutJson);  { a raise here runs Destroy, which frees nothing yet }
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
begin
  Token := Encode(TokenJson, 'token');
  Msg := Encode(MessageJson, 'message');
  OutJson := nil;
  Result := Finish(oauthmail_send(H, PAnsiChar(Token), PAnsiChar(Msg), OutJson), OutJson);
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
    Check(oauthmail_client_set_url_opener(H, nil, nil), OutJson);
    Exit;
  end;
  RequireThreads;
  Holder := AddHolder;
  Holder^.Opener := Opener;
  Check(oauthmail_client_set_url_opener(H, UrlOpenerTrampoline, Holder), OutJson);
end;

procedure TOAuthMailClient.SetLogger(Logger: TOAuthMailLogger; MaxLevel: Cardinal);
var
  Holder: PCallbackHolder;
  OutJson: PAnsiChar;
begin
  OutJson := nil;
  if not Assigned(Logger) then
  begin
    Check(oauthmail_client_set_logger(H, nil, nil, 0), OutJson);
    Exit;
  end;
  RequireThreads;
  Holder := AddHolder;
  Holder^.Logger := Logger;
  Check(oauthmail_client_set_logger(H, LoggerTrampoline, Holder, MaxLevel), OutJson);
end;

end.
