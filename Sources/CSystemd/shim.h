#ifndef OOMCTL_CSYSTEMD_SHIM_H
#define OOMCTL_CSYSTEMD_SHIM_H
#include <systemd/sd-journal.h>
#endif
