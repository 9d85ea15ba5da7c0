/* spawn-measure: runs one command and prints "<wall ns> <peak RSS KiB> <exit status>".
 *
 * Why not python's os.posix_spawn + wait4, or /usr/bin/time: posix_spawn uses vfork, and the kernel
 * carries the parent's RSS high-water mark across exec into ru_maxrss, so every child of a python
 * process "peaks" at python's ~16 MiB. This helper is tiny and fork()s (not vfork), so the child's
 * ru_maxrss starts from this program's own <1 MiB; and it times fork..wait4 with CLOCK_MONOTONIC in ns
 * (GNU time's %e has 10 ms resolution).
 *
 * Usage: spawn-measure [-q] [-i STDIN_FILE] CMD [ARG...]
 *   stdout of CMD goes to /dev/null; -q sends its stderr there too.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *input = NULL;
    int first = 1, quiet = 0;
    if (argc > first && strcmp(argv[first], "-q") == 0) { quiet = 1; first++; }
    if (argc > first + 1 && strcmp(argv[first], "-i") == 0) { input = argv[first + 1]; first += 2; }
    if (first >= argc) { fprintf(stderr, "usage: spawn-measure [-q] [-i FILE] CMD [ARG...]\n"); return 64; }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid = fork();
    if (pid < 0) { perror("spawn-measure: fork"); return 71; }
    if (pid == 0) {
        int out = open("/dev/null", O_WRONLY);
        if (out < 0 || dup2(out, 1) < 0 || (quiet && dup2(out, 2) < 0)) _exit(126);
        if (input) {
            int in = open(input, O_RDONLY);
            if (in < 0 || dup2(in, 0) < 0) _exit(126);
        }
        execvp(argv[first], argv + first);
        _exit(127);
    }
    int status;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) < 0) { perror("spawn-measure: wait4"); return 71; }
    clock_gettime(CLOCK_MONOTONIC, &end);
    long long ns = (long long)(end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("%lld %ld %d\n", ns, usage.ru_maxrss, code);
    return 0;
}
