/* A Windows test agent for the wine smoke test (scripts/wine-smoke.py), built with mingw.
 *   agent ok PROMPT_FILE   prints what it was given and exits 0
 *   agent fail             prints a line and exits 3
 *   agent hang MARKER      starts a child (`agent child MARKER`) and waits forever; the child
 *                          rewrites MARKER with a counter every 100 ms until it is killed, so
 *                          the test sees whether brain's timeout stopped the whole tree. */
#include <windows.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    const char *task = getenv("BRAIN_TASK");
    if (strcmp(mode, "ok") == 0) {
        FILE *f = argc > 2 ? fopen(argv[2], "rb") : NULL;
        long n = 0;
        if (f) { fseek(f, 0, SEEK_END); n = ftell(f); fclose(f); }
        printf("test agent: did task %s (prompt of %ld bytes)\n", task ? task : "?", n);
        return f ? 0 : 2;
    }
    if (strcmp(mode, "fail") == 0) {
        printf("test agent: giving up on %s\n", task ? task : "?");
        return 3;
    }
    if (strcmp(mode, "hang") == 0 && argc > 2) {
        char self[MAX_PATH], cmd[2 * MAX_PATH + 16];
        GetModuleFileNameA(NULL, self, MAX_PATH);
        snprintf(cmd, sizeof cmd, "\"%s\" child \"%s\"", self, argv[2]);
        STARTUPINFOA si = {sizeof si};
        PROCESS_INFORMATION pi;
        if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) return 4;
        printf("test agent: started child %lu, now hanging\n", (unsigned long)pi.dwProcessId);
        fflush(stdout);
        Sleep(INFINITE);
    }
    if (strcmp(mode, "child") == 0 && argc > 2) {
        for (unsigned long i = 0;; i++) {
            FILE *f = fopen(argv[2], "wb");
            if (f) { fprintf(f, "%lu\n", i); fclose(f); }
            Sleep(100);
        }
    }
    fprintf(stderr, "usage: agent ok PROMPT_FILE | fail | hang MARKER\n");
    return 64;
}
