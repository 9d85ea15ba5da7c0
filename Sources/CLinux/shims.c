#define _GNU_SOURCE
#include "CLinux.h"

#include <errno.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
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

int oomctl_pidfd_open(pid_t pid, unsigned int flags) {
    return (int)syscall(SYS_pidfd_open, pid, flags);
}

int oomctl_pidfd_send_signal(int pidfd, int sig, unsigned int flags) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, flags);
}

int oomctl_process_mrelease(int pidfd, unsigned int flags) {
    return (int)syscall(SYS_process_mrelease, pidfd, flags);
}

long oomctl_fstatfs_type(int fd) {
    struct statfs buf;
    if (fstatfs(fd, &buf) != 0) {
        return -1;
    }
    return (long)buf.f_type;
}

long oomctl_clock_ticks(void) { return sysconf(_SC_CLK_TCK); }
long oomctl_page_size(void) { return sysconf(_SC_PAGESIZE); }
