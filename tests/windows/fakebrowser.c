/* TEST-ONLY "system browser" for the Wine prefix: smoke.exe --system-browser registers it as the
 * handler of https:// URLs, so the DLL's ShellExecuteW(open, URL) starts it. It hands the URL to
 * the test script's browser (curl) by writing it, UTF-8, to authorize-url.txt next to itself. */
#include <windows.h>
#include <shellapi.h>
#include <stdio.h>
#include <wchar.h>

int main(void) {
    int argc = 0;
    wchar_t **argv = CommandLineToArgvW(GetCommandLineW(), &argc);
    if (!argv || argc != 2) return 2;
    wchar_t dir[MAX_PATH], tmp[MAX_PATH + 32], done[MAX_PATH + 32];
    DWORD n = GetModuleFileNameW(NULL, dir, MAX_PATH);
    while (n > 0 && dir[n - 1] != L'\\') n--;
    dir[n] = 0;
    _snwprintf(tmp, MAX_PATH + 32, L"%lsauthorize-url.tmp", dir);
    _snwprintf(done, MAX_PATH + 32, L"%lsauthorize-url.txt", dir);
    char url[8192];
    if (!WideCharToMultiByte(CP_UTF8, 0, argv[1], -1, url, sizeof url, NULL, NULL)) return 3;
    FILE *f = _wfopen(tmp, L"wb");
    if (!f) return 4;
    fputs(url, f);
    fclose(f);
    return MoveFileExW(tmp, done, MOVEFILE_REPLACE_EXISTING) ? 0 : 5;
}
