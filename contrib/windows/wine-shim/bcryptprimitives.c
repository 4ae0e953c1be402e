/* For running edgepath.exe under Wine 8 only; never shipped with the exe.
 *
 * Rust's standard library (1.78 and later) takes its random bytes on Windows from
 * ProcessPrng in bcryptprimitives.dll, which Windows 10 and 11 have and Wine 8 lacks, so
 * without it the exe does not start under Wine. This DLL exports ProcessPrng and answers
 * it with advapi32's RtlGenRandom (SystemFunction036): the system's generator still, not
 * a fallback of our own. contrib/windows/wine-run puts its folder on Wine's PATH
 * (WINEPATH), so it is found without sitting beside the exe. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
