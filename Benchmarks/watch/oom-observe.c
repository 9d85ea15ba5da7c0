/* oom-observe: the clock of Benchmarks/watch/run's latency part. Everything in CLOCK_MONOTONIC ns.
 *
 *   oom-observe oom CGROUP_DIR TIMEOUT_S CMD [ARG...]
 *       Registers an eventfd of its own on CGROUP_DIR/memory.oom_control (through cgroup.event_control,
 *       the same kernel notification `oomctl watch` is woken by; v1 signals every registered eventfd of
 *       the cgroup at once), then forks CMD (stdout and stderr to /dev/null; CMD moves itself into the
 *       cgroup, then execs the hog) and polls the eventfd and a pidfd of the child:
 *         start  = just before fork
 *         event  = the eventfd became readable (the kernel's OOM notification; first one only)
 *         dead   = the pidfd became readable (the child has exited: its memory is uncharged, exit_mm
 *                  runs before the exit is signalled)
 *       Prints "<start ns> <event ns> <dead ns> <wait status>" (absolute CLOCK_MONOTONIC; event -1 when
 *       no notification came). After TIMEOUT_S the child is killed (SIGKILL) and dead is -1.
 *       Used for both sides: the kernel's own OOM killer (oom_kill_disable 0) and `oomctl watch`
 *       (oom_kill_disable 1, watch kills). The kernel notifies in both cases (mem_cgroup_oom_notify runs
 *       before the kernel's kill, and when a task stalls with the killer disabled). It polls at SCHED_FIFO
 *       priority 1 (the hog does not inherit it), so that it is woken at the notification, not whenever
 *       a busy core gets to it.
 *
 *   oom-observe stamp FILE
 *       Appends "<now ns>\n" to FILE and exits 0: the hook given to `oomctl watch --hook` ("hook process
 *       started" = the hook's /bin/sh has started and exec'd this). Its stdin (watch's JSON) is not read.
 *
 *   oom-observe shfloor N FILE STAMP
 *       The cost of a hook's shell itself: N times, posix_spawn("/bin/sh", "-c", "STAMP FILE") (as watch
 *       spawns hooks) and wait; prints one "<ns from before posix_spawn to the stamp>" line per run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int fail(const char *what) {
    fprintf(stderr, "oom-observe: %s: %s\n", what, strerror(errno));
    return 71;
}

static int observe_oom(const char *cgroup, double timeout, char **command) {
    char path[4096], line[64];
    snprintf(path, sizeof path, "%s/memory.oom_control", cgroup);
    int control = open(path, O_RDONLY | O_CLOEXEC);
    if (control < 0) return fail(path);
    int event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event < 0) return fail("eventfd");
    snprintf(path, sizeof path, "%s/cgroup.event_control", cgroup);
    int registration = open(path, O_WRONLY | O_CLOEXEC);
    if (registration < 0) return fail(path);
    int length = snprintf(line, sizeof line, "%d %d", event, control);
    if (write(registration, line, length) != length) return fail("register the eventfd");
    close(registration);

    /* Wake at once when the kernel notifies, whatever else runs (2 cores, the hog and watch busy): the
     * event time is when this process is woken. Real-time priority 1, not inherited by the hog
     * (SCHED_RESET_ON_FORK). Refused (no CAP_SYS_NICE): carry on at normal priority, said once. */
    struct sched_param priority = {.sched_priority = 1};
    if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &priority) != 0)
        fprintf(stderr, "oom-observe: warning: no SCHED_FIFO (%s): event times may be late\n", strerror(errno));

    long long start = now_ns();
    pid_t pid = fork();
    if (pid < 0) return fail("fork");
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) _exit(126);
        execvp(command[0], command);
        _exit(127);
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return fail("pidfd_open");
    }
    long long notified = -1, dead = -1, deadline = start + (long long)(timeout * 1e9);
    struct pollfd fds[2] = {{.fd = event, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
    for (;;) {
        long long left = (deadline - now_ns()) / 1000000;
        if (left <= 0) break;
        int n = poll(fds, 2, (int)(left > 1000 ? 1000 : left) + 1);
        long long t = now_ns();
        if (n < 0 && errno != EINTR) return fail("poll");
        if (n <= 0) continue;
        if (fds[0].revents & POLLIN) {
            unsigned long long count;
            if (notified < 0) notified = t;
            if (read(event, &count, sizeof count) < 0 && errno != EAGAIN) return fail("read eventfd");
        }
        if (fds[1].revents & POLLIN) { dead = t; break; }
    }
    if (dead < 0) kill(pid, SIGKILL);
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return fail("waitpid");
    printf("%lld %lld %lld %d\n", start, notified, dead, status);
    return 0;
}

static int stamp(const char *file) {
    long long t = now_ns();
    char line[32];
    int length = snprintf(line, sizeof line, "%lld\n", t);
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, line, length) != length) return fail(file);
    return 0;
}

static int shell_floor(int runs, const char *file, const char *stamp_path) {
    char command[8192];
    snprintf(command, sizeof command, "%s stamp %s", stamp_path, file);
    char *argv[] = {"sh", "-c", command, NULL};
    for (int i = 0; i < runs; i++) {
        unlink(file);
        long long start = now_ns();
        pid_t pid;
        int error = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
        if (error) { errno = error; return fail("posix_spawn /bin/sh"); }
        int status;
        if (waitpid(pid, &status, 0) < 0) return fail("waitpid");
        FILE *f = fopen(file, "r");
        long long stamped;
        if (!f || fscanf(f, "%lld", &stamped) != 1) return fail("read the stamp");
        fclose(f);
        printf("%lld\n", stamped - start);
    }
    unlink(file);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "oom") == 0) return observe_oom(argv[2], atof(argv[3]), argv + 4);
    if (argc == 3 && strcmp(argv[1], "stamp") == 0) return stamp(argv[2]);
    if (argc == 5 && strcmp(argv[1], "shfloor") == 0) return shell_floor(atoi(argv[2]), argv[3], argv[4]);
    fprintf(stderr, "usage: oom-observe oom CGROUP_DIR TIMEOUT_S CMD [ARG...]\n"
                    "       oom-observe stamp FILE\n"
                    "       oom-observe shfloor N FILE STAMP\n");
    return 64;
}
