/* TEST-ONLY shim, never shipped with the DLL.
 *
 * Rust's std (1.78+, on the Windows 10+ targets) imports ProcessPrng from bcryptprimitives.dll,
 * which every Windows 10+ has but Debian 12's Wine 8.0 lacks: without this shim LoadLibrary of
 * oauthmail.dll fails under Wine with error 126. It is put next to smoke.exe only, and forwards
 * to RtlGenRandom (advapi32!SystemFunction036). Built with -Wl,--kill-at so that the i686 export
 * is the undecorated name std imports. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
