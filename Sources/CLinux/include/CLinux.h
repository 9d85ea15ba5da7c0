#ifndef OOMCTL_CLINUX_H
#define OOMCTL_CLINUX_H

#include <fcntl.h>
#include <malloc.h>
#include <sys/types.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/xattr.h>

/// O_PATH, which <fcntl.h> defines only with _GNU_SOURCE (its value, __O_PATH, always).
static const int OOMCTL_O_PATH = __O_PATH;

/// pidfd_open(2); returns a pidfd or -1 with errno set.
int oomctl_pidfd_open(pid_t pid, unsigned int flags);

/// pidfd_send_signal(2) without siginfo; returns 0 or -1 with errno set.
int oomctl_pidfd_send_signal(int pidfd, int sig, unsigned int flags);

/// process_mrelease(2); returns 0 or -1 with errno set (ENOSYS on kernels before 5.15).
int oomctl_process_mrelease(int pidfd, unsigned int flags);

/// epoll_ctl(EPOLL_CTL_ADD / MOD / DEL) with a 64-bit token; struct epoll_event is packed on x86_64,
/// so Swift never touches it directly. op: 1 add, 2 delete, 3 modify (EPOLL_CTL_*).
int oomctl_epoll_control(int epfd, int op, int fd, uint32_t events, uint64_t token);

/// epoll_wait into parallel arrays of tokens and event masks; returns the count or -1 with errno set.
int oomctl_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int capacity, int timeout_ms);

/// pipe2(fds, O_CLOEXEC); returns 0 or -1 with errno set.
int oomctl_pipe_cloexec(int fds[2]);

/// socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC): one message per send, end of file when the
/// peer is gone; returns 0 or -1 with errno set.
int oomctl_seqpacket_pair(int fds[2]);

/// SO_SNDTIMEO: a blocking send on `socket` fails with EAGAIN after `milliseconds`. 0 or -1 with errno.
int oomctl_set_send_timeout(int socket, int milliseconds);

/// Sends one message on a socket, with `descriptor` attached (SCM_RIGHTS) unless it is negative, and
/// MSG_NOSIGNAL (a gone peer is EPIPE, not SIGPIPE). Returns the bytes sent or -1 with errno set.
ssize_t oomctl_send_with_descriptor(int socket, const void *bytes, size_t count, int descriptor);

/// Receives one message into `bytes`, and the descriptor attached to it in `*descriptor` (-1 when
/// none; close-on-exec; any more than one are closed). `*truncated` is set when the message, or its
/// descriptors, did not fit. Returns the bytes received (0: end of file) or -1 with errno set.
ssize_t oomctl_receive_with_descriptor(int socket, void *bytes, size_t count, int *descriptor, int *truncated);

/// The size of the next message waiting on a SOCK_SEQPACKET socket (MSG_PEEK | MSG_TRUNC), 0 at end
/// of file, or -1 with errno set.
ssize_t oomctl_next_message_size(int socket);

/// Fills `address` with the AF_UNIX name of `length` bytes at `name`: a path (the address ends at its
/// NUL), or, when the first byte is '@', a name in the abstract namespace (exactly its bytes, the '@'
/// read as the leading NUL). Returns the length to give bind, connect or sendto, or 0 with errno
/// ENAMETOOLONG when the name is empty or does not fit sockaddr_un. The one place oomctl builds such an
/// address (the status socket, the journald probe, the service manager's notify socket).
socklen_t oomctl_unix_address(const char *name, size_t length, struct sockaddr_un *address);

/// A non-blocking UNIX stream socket (close-on-exec) bound to `path` and listening with `backlog`.
/// Returns the socket or -1 with errno set (ENAMETOOLONG for a path that does not fit sockaddr_un).
int oomctl_unix_listen(const char *path, int backlog);

/// A blocking UNIX stream socket (close-on-exec) connected to `path`, whose sends and receives fail
/// with EAGAIN after `timeout_ms`. Returns the socket or -1 with errno set.
int oomctl_unix_connect(const char *path, int timeout_ms);

/// accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); the socket or -1 with errno set.
int oomctl_unix_accept(int listener);

/// SO_PEERCRED: the peer's uid and pid; 0 or -1 with errno set.
int oomctl_peer_credentials(int socket, uid_t *uid, pid_t *pid);

/// send(socket, bytes, count, MSG_DONTWAIT | MSG_NOSIGNAL): the bytes sent or -1 with errno set.
ssize_t oomctl_send_nonblocking(int socket, const void *bytes, size_t count);

/// Arms a timerfd to fire once after the given nanoseconds (0 disarms).
int oomctl_timerfd_arm(int fd, int64_t nanoseconds);

/// The signal number in the siginfo read from a signalfd (0 when the read is short).
int oomctl_signalfd_read(int fd);

/// sync(2) in a child process (which first closes every descriptor above 2, so that it holds no pipe
/// or eventfd of its parent), waited for at most timeout_ms. Returns 0 when the child's sync finished,
/// ETIMEDOUT when it had not by then (the child goes on), or the errno of a failed fork, after calling
/// sync() in this process instead.
int oomctl_sync_bounded(int timeout_ms);

/// Markers placed by the release link around the code the guardian and a handling run (see
/// Sources/oomctl/symbol-order.txt); their addresses bound it. Never called.
void oomctl_hot_code_begin(void);
void oomctl_hot_code_end(void);

#endif
