#ifndef OOMCTL_CSYSTEMD_H
#define OOMCTL_CSYSTEMD_H

#include <sys/uio.h>

/// sd_journal_sendv(3) from libsystemd, which is loaded (dlopen of libsystemd.so.0) the first time
/// journal output is used, not at every start: libsystemd and the six libraries it needs are most
/// of what the loader maps for oomctl, and `oomctl kill` must start fast against a fork bomb.
/// Returns sd_journal_sendv's result, or -ELIBACC when libsystemd cannot be loaded.
int oomctl_journal_sendv(const struct iovec *iov, int n);

/// Loads libsystemd if it is not yet: NULL when sd_journal_sendv is there, else why not (the
/// loader's message, valid for the life of the process).
const char *oomctl_journal_load_error(void);

#endif
