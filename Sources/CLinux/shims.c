#define _GNU_SOURCE
#include "CLinux.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

int oomctl_pidfd_open(pid_t pid, unsigned int flags) {
    return (int)syscall(SYS_pidfd_open, pid, flags);
}

int oomctl_pidfd_send_signal(int pidfd, int sig, unsigned int flags) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, flags);
}

int oomctl_process_mrelease(int pidfd, unsigned int flags) {
    return (int)syscall(SYS_process_mrelease, pidfd, flags);
}

int oomctl_epoll_control(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = events;
    event.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &event);
}

int oomctl_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int capacity, int timeout_ms) {
    struct epoll_event ready[64];
    if (capacity > 64) {
        capacity = 64;
    }
    int count = epoll_wait(epfd, ready, capacity, timeout_ms);
    for (int i = 0; i < count; i++) {
        tokens[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return count;
}

int oomctl_timerfd_arm(int fd, int64_t nanoseconds) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof(spec));
    spec.it_value.tv_sec = nanoseconds / 1000000000;
    spec.it_value.tv_nsec = nanoseconds % 1000000000;
    if (nanoseconds > 0 && spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) {
        spec.it_value.tv_nsec = 1;
    }
    return timerfd_settime(fd, 0, &spec, NULL);
}

int oomctl_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t count = read(fd, &info, sizeof(info));
    if (count != (ssize_t)sizeof(info)) {
        return 0;
    }
    return (int)info.ssi_signo;
}

int oomctl_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int oomctl_sync_bounded(int timeout_ms) {
    pid_t pid = fork();
    if (pid < 0) {
        int error = errno;
        sync();
        return error;
    }
    if (pid == 0) {
        // Only async-signal-safe calls here: the parent may have had other threads.
        syscall(SYS_close_range, 3U, ~0U, 0U);
        sync();
        _exit(0);
    }
    const struct timespec step = {0, 1000000};  // 1 ms
    for (int waited = 0;; waited++) {
        int status;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid || (done < 0 && errno != EINTR)) return 0;
        if (waited >= timeout_ms) return ETIMEDOUT;
        nanosleep(&step, NULL);
    }
}
