#ifndef OOMCTL_CLINUX_H
#define OOMCTL_CLINUX_H

#include <sys/types.h>
#include <signal.h>
#include <sys/xattr.h>

/// pidfd_open(2); returns a pidfd or -1 with errno set.
int oomctl_pidfd_open(pid_t pid, unsigned int flags);

/// pidfd_send_signal(2) without siginfo; returns 0 or -1 with errno set.
int oomctl_pidfd_send_signal(int pidfd, int sig, unsigned int flags);

/// process_mrelease(2); returns 0 or -1 with errno set (ENOSYS on kernels before 5.15).
int oomctl_process_mrelease(int pidfd, unsigned int flags);

/// The statfs(2) f_type of the file system holding fd, or -1 with errno set.
long oomctl_fstatfs_type(int fd);

/// The CPU clock tick (sysconf(_SC_CLK_TCK)) and page size, for /proc arithmetic.
long oomctl_clock_ticks(void);
long oomctl_page_size(void);

#endif
