#include "CSystemd.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <systemd/sd-journal.h>

// The header gives the type; the symbol is looked up, never linked (typeof does not reference it).
typedef __typeof__(&sd_journal_sendv) journal_sendv_function;

static journal_sendv_function journal_sendv;
static char load_error[512];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void) {
    // RTLD_NODELETE: never unloaded, so the function pointer stays valid for the process's life.
    void *library = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (library == NULL) {
        const char *reason = dlerror();
        snprintf(load_error, sizeof load_error, "cannot load libsystemd: %s", reason ? reason : "unknown error");
        return;
    }
    journal_sendv = (journal_sendv_function)dlsym(library, "sd_journal_sendv");
    if (journal_sendv == NULL) {
        snprintf(load_error, sizeof load_error, "libsystemd.so.0 has no sd_journal_sendv");
    }
}

const char *oomctl_journal_load_error(void) {
    pthread_once(&load_once, load);
    return journal_sendv == NULL ? load_error : NULL;
}

int oomctl_journal_sendv(const struct iovec *iov, int n) {
    pthread_once(&load_once, load);
    if (journal_sendv == NULL) return -ELIBACC;
    return journal_sendv(iov, n);
}
