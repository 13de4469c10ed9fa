{ Without cthreads (a common mistake on Unix), registering a callback must raise EOAuthMail with
  the fix in its hint instead of letting a library thread run Pascal code without thread support. }
program no_cthreads;

uses
  SysUtils, OAuthMail;

type
  TNop = class
    procedure Log(Level: Cardinal; const Msg: string);
  end;

procedure TNop.Log(Level: Cardinal; const Msg: string);
begin
end;

var
  C: TOAuthMailClient;
  N: TNop;
begin
  N := TNop.Create;
  C := TOAuthMailClient.Create('{"provider": "google", "client_id": "id", "client_secret": "s"}');
  try
    try
      C.SetLogger(N.Log);
      WriteLn('FAIL no exception without cthreads');
      ExitCode := 1;
    except
      on E: EOAuthMail do
        if Pos('cthreads', E.Hint) > 0 then
          WriteLn('ok   without cthreads SetLogger raises EOAuthMail naming cthreads')
        else
        begin
          WriteLn('FAIL hint: ', E.Hint);
          ExitCode := 1;
        end;
    end;
  finally
    C.Free;
    N.Free;
  end;
end.
