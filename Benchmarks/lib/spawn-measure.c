/* spawn-measure: runs one command and prints "<wall ns> <peak RSS KiB> <exit status>"
 * (and, with -w, " <condition ns> <polls>"). Shared by the benchmarks in Benchmarks/.
 *
 * Why not python's os.posix_spawn + wait4, or /usr/bin/time: posix_spawn uses vfork, and the kernel
 * carries the parent's RSS high-water mark across exec into ru_maxrss, so every child of a python
 * process "peaks" at python's ~16 MiB. This helper is tiny and fork()s (not vfork), so the child's
 * ru_maxrss starts from this program's own <1 MiB; and it times fork..wait4 with CLOCK_MONOTONIC in ns
 * (GNU time's %e has 10 ms resolution).
 *
 * Usage: spawn-measure [-q] [-i STDIN_FILE] [-o STDOUT_FILE] [-w CGROUP_DIR -u BYTES [-t SECONDS]] CMD [ARG...]
 *   stdout of CMD goes to /dev/null (or to STDOUT_FILE with -o); -q sends its stderr there too.
 *   -w: "wait for a cgroup to empty": from just before fork, poll CGROUP_DIR every 1 ms until its
 *       cgroup.procs is empty AND its memory.usage_in_bytes is at most BYTES (-u); the time until then is
 *       <condition ns>. The command's own exit is noticed in the same loop (wall ns then has 1 ms
 *       resolution if it exits first). Gives up after -t SECONDS (default 60): condition ns is then -1.
 *       A v1 memory cgroup; the cgroup itself is only read, never written.
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

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Reads a small cgroup file (open, read, close, as anyone polling it would). Returns bytes read or -1. */
static ssize_t read_file(const char *path, char *buffer, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t total = 0, n;
    while ((size_t)total < size - 1 && (n = read(fd, buffer + total, size - 1 - total)) > 0) total += n;
    close(fd);
    buffer[total] = 0;
    return n < 0 ? -1 : total;
}

/* Whether CGROUP_DIR has no process left and its usage is at most `limit`. cgroup.procs is read in
 * chunks: only whether it is empty matters, so the first byte decides. */
static int condition_holds(const char *procs, const char *usage, unsigned long long limit) {
    char buffer[64];
    ssize_t n = read_file(procs, buffer, 2);
    if (n != 0) return 0;
    if (read_file(usage, buffer, sizeof buffer) <= 0) return 0;
    return strtoull(buffer, NULL, 10) <= limit;
}

int main(int argc, char **argv) {
    const char *input = NULL, *output = NULL, *cgroup = NULL;
    unsigned long long limit = 0;
    double timeout = 60;
    int first = 1, quiet = 0;
    for (;;) {
        if (argc > first && strcmp(argv[first], "-q") == 0) { quiet = 1; first++; continue; }
        if (argc > first + 1 && strcmp(argv[first], "-i") == 0) { input = argv[first + 1]; first += 2; continue; }
        if (argc > first + 1 && strcmp(argv[first], "-o") == 0) { output = argv[first + 1]; first += 2; continue; }
        if (argc > first + 1 && strcmp(argv[first], "-w") == 0) { cgroup = argv[first + 1]; first += 2; continue; }
        if (argc > first + 1 && strcmp(argv[first], "-u") == 0) { limit = strtoull(argv[first + 1], NULL, 10); first += 2; continue; }
        if (argc > first + 1 && strcmp(argv[first], "-t") == 0) { timeout = atof(argv[first + 1]); first += 2; continue; }
        break;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: spawn-measure [-q] [-i FILE] [-o FILE] [-w CGROUP_DIR -u BYTES [-t S]] CMD [ARG...]\n");
        return 64;
    }
    char procs[4096], usage[4096];
    if (cgroup) {
        snprintf(procs, sizeof procs, "%s/cgroup.procs", cgroup);
        snprintf(usage, sizeof usage, "%s/memory.usage_in_bytes", cgroup);
    }
    long long start = now_ns();
    pid_t pid = fork();
    if (pid < 0) { perror("spawn-measure: fork"); return 71; }
    if (pid == 0) {
        int out = open(output ? output : "/dev/null", output ? O_WRONLY | O_CREAT | O_TRUNC : O_WRONLY, 0644);
        int null = open("/dev/null", O_WRONLY);
        if (out < 0 || null < 0 || dup2(out, 1) < 0 || (quiet && dup2(null, 2) < 0)) _exit(126);
        if (input) {
            int in = open(input, O_RDONLY);
            if (in < 0 || dup2(in, 0) < 0) _exit(126);
        }
        execvp(argv[first], argv + first);
        _exit(127);
    }
    int status = 0, reaped = 0;
    struct rusage rusage;
    long long end = 0, condition = -1, polls = 0;
    if (cgroup) {
        long long deadline = start + (long long)(timeout * 1e9);
        struct timespec tick = {0, 1000000};
        for (;;) {
            if (!reaped && wait4(pid, &status, WNOHANG, &rusage) == pid) { reaped = 1; end = now_ns(); }
            polls++;
            if (condition_holds(procs, usage, limit)) { condition = now_ns() - start; break; }
            if (now_ns() > deadline) break;
            nanosleep(&tick, NULL);
        }
    }
    if (!reaped) {
        if (wait4(pid, &status, 0, &rusage) < 0) { perror("spawn-measure: wait4"); return 71; }
        end = now_ns();
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (cgroup)
        printf("%lld %ld %d %lld %lld\n", end - start, rusage.ru_maxrss, code, condition, polls);
    else
        printf("%lld %ld %d\n", end - start, rusage.ru_maxrss, code);
    return 0;
}
