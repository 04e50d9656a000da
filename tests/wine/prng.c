/* A stand-in for bcryptprimitives.dll, which wine 8 lacks: Rust's standard library asks it for
 * random bytes (ProcessPrng). Windows has the real one; this forwards to advapi32's RtlGenRandom
 * (SystemFunction036). Built by scripts/wine-smoke.py and put beside brain.exe, nowhere else. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    return SystemFunction036(data, (ULONG)length);
}
