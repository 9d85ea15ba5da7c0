// trace-calls: runs a program under ptrace with a breakpoint (int3) on the entry of every function listed,
// and prints each function as it first runs, in that order, as "PHASE OFFSET" (OFFSET from the load base,
// hex, as listed). One trap per function and phase, so a whole start-up and handling takes seconds, where
// single-stepping every instruction takes hours.
//
// Every process that runs the same executable is traced: forks and vforks inherit the phase (and, being
// copies, the breakpoints), an exec of the executable gets fresh breakpoints, an exec of anything else is
// let go. Address-space randomisation is off, so the load base is the same in every process.
// PHASE: "g" in a process whose argv[1] is "guardian"; otherwise "s" until MARKER (one of the offsets)
// runs, then "h": at MARKER every breakpoint is set again, so "h" lists all that runs after it, also what
// start-up ran before.
//
// Usage: trace-calls FUNCTIONS OUT MARKER PROGRAM ARGS...
//   FUNCTIONS: one hex offset per line (function entries; a tool of scripts/gen-symbol-order)
// The traced processes die with the tracer (PTRACE_O_EXITKILL): run under gen-symbol-order, whose cleanup
// re-enables the kernel killer in its own test cgroups; a watch traced by hand on real cgroups would leave
// them to the next watch's start (which re-enables killers a dead watch left disabled).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "trace-calls knows x86-64 only (int3, rip)"
#endif

#define MAX_TRACEES 4096
static struct { pid_t pid; char phase; int active; } tracees[MAX_TRACEES];
static uint64_t *functions;  // sorted offsets
static int16_t *original;    // the first byte of each, as the executable has it (-1: not read yet)
static size_t function_count;
static uint64_t base;
static char exe[4096];
static FILE *out;

static int known(pid_t pid) {
    for (int i = 0; i < MAX_TRACEES; i++) if (tracees[i].active && tracees[i].pid == pid) return i;
    return -1;
}

static int slot(pid_t pid) {
    for (int i = 0; i < MAX_TRACEES; i++) if (tracees[i].active && tracees[i].pid == pid) return i;
    for (int i = 0; i < MAX_TRACEES; i++) if (!tracees[i].active) {
        tracees[i].pid = pid; tracees[i].phase = 's'; tracees[i].active = 1; return i;
    }
    fprintf(stderr, "trace-calls: too many processes\n"); exit(1);
}

static uint64_t load_base(pid_t pid) {
    char path[64], line[8192];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *maps = fopen(path, "r");
    if (!maps) return 0;
    uint64_t found = 0;
    while (!found && fgets(line, sizeof line, maps)) {
        unsigned long lo; char name[4096] = "";
        if (sscanf(line, "%lx-%*x %*s %*s %*s %*s %4095s", &lo, name) == 2 && strcmp(name, exe) == 0) found = lo;
    }
    fclose(maps);
    return found;
}

static int runs_exe(pid_t pid) {
    char path[64], target[4096];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) return 0;
    target[n] = 0;
    return strcmp(target, exe) == 0;
}

static int is_guardian(pid_t pid) {
    char path[64], args[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, args, sizeof args - 1);
    close(fd);
    if (n <= 0) return 0;
    args[n] = 0;
    size_t first = strlen(args);
    return (ssize_t)first + 1 < n && strcmp(args + first + 1, "guardian") == 0;
}

// Sets a breakpoint on every function in PID (except `except`), through /proc/PID/mem (writes text pages
// as a debugger does: the process gets private copies of them).
static void arm(pid_t pid, size_t except) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int mem = open(path, O_RDWR);
    if (mem < 0) { perror("trace-calls: /proc/PID/mem"); exit(1); }
    static const uint8_t trap = 0xcc;
    for (size_t i = 0; i < function_count; i++) {
        if (i == except) continue;
        if (original[i] < 0) {
            uint8_t byte;
            if (pread(mem, &byte, 1, (off_t)(base + functions[i])) != 1) { perror("trace-calls: read"); exit(1); }
            original[i] = byte;
        }
        if (original[i] == trap) continue;  // an int3 of the program's own: left as it is
        if (pwrite(mem, &trap, 1, (off_t)(base + functions[i])) != 1) { perror("trace-calls: arm"); exit(1); }
    }
    close(mem);
}

static long find(uint64_t offset) {
    size_t lo = 0, hi = function_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (functions[mid] < offset) lo = mid + 1; else hi = mid;
    }
    return lo < function_count && functions[lo] == offset ? (long)lo : -1;
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: trace-calls FUNCTIONS OUT MARKER PROGRAM ARGS...\n"); return 64; }
    FILE *list = fopen(argv[1], "r");
    if (!list) { perror("trace-calls: FUNCTIONS"); return 66; }
    size_t capacity = 1 << 16;
    functions = malloc(capacity * sizeof *functions);
    if (!functions) { perror("trace-calls"); return 71; }
    unsigned long long value;
    while (fscanf(list, "%llx", &value) == 1) {
        if (function_count == capacity) {
            functions = realloc(functions, (capacity *= 2) * sizeof *functions);
            if (!functions) { perror("trace-calls"); return 71; }
        }
        functions[function_count++] = value;
    }
    fclose(list);
    qsort(functions, function_count, sizeof *functions, compare);
    original = malloc(function_count * sizeof *original);
    if (!original) { perror("trace-calls"); return 71; }
    for (size_t i = 0; i < function_count; i++) original[i] = -1;
    out = fopen(argv[2], "w");
    if (!out) { perror("trace-calls: OUT"); return 73; }
    long marker = find(strtoull(argv[3], NULL, 16));
    if (marker < 0) { fprintf(stderr, "trace-calls: MARKER is not one of the functions\n"); return 65; }
    if (!realpath(argv[4], exe)) { perror("trace-calls: PROGRAM"); return 66; }

    pid_t child = fork();
    if (child == 0) {
        personality(ADDR_NO_RANDOMIZE);
        // Not traceable (Yama ptrace_scope 3, already traced): say so rather than stop for ever.
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) { perror("trace-calls: PTRACE_TRACEME"); _exit(126); }
        raise(SIGSTOP);
        execv(exe, argv + 4);
        _exit(127);
    }
    int status;
    if (child < 0) { perror("trace-calls: fork"); return 71; }
    if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status)) {
        fprintf(stderr, "trace-calls: the program could not be traced\n");
        kill(child, SIGKILL);
        return 71;
    }
    ptrace(PTRACE_SETOPTIONS, child, 0,
           PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
    slot(child);
    ptrace(PTRACE_CONT, child, 0, 0);
    int live = 1, exit_code = 0;
    while (live > 0) {
        pid_t pid = waitpid(-1, &status, __WALL);
        if (pid < 0) { if (errno == EINTR) continue; break; }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (pid == child) exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            int gone = known(pid);
            if (gone >= 0) { tracees[gone].active = 0; live--; }
            continue;
        }
        int i = slot(pid);
        if (!WIFSTOPPED(status)) continue;
        int sig = WSTOPSIG(status), event = status >> 16, deliver = 0;
        if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK || event == PTRACE_EVENT_CLONE) {
            unsigned long new_pid; ptrace(PTRACE_GETEVENTMSG, pid, 0, &new_pid);
            int j = slot((pid_t)new_pid);
            tracees[j].phase = tracees[i].phase; live++;
        } else if (event == PTRACE_EVENT_EXEC) {
            if (!runs_exe(pid)) { ptrace(PTRACE_DETACH, pid, 0, 0); tracees[i].active = 0; live--; continue; }
            tracees[i].phase = is_guardian(pid) ? 'g' : 's';
            uint64_t found = load_base(pid);
            if (!found || (base && found != base)) { fprintf(stderr, "trace-calls: no load base\n"); return 70; }
            base = found;
            arm(pid, (size_t)-1);
        } else if (sig == SIGTRAP && event == 0) {
            struct user_regs_struct regs;
            long index = -1;
            if (base && ptrace(PTRACE_GETREGS, pid, 0, &regs) == 0 && regs.rip > base)
                index = find(regs.rip - 1 - base);
            // A function whose own first byte is int3 was never armed: its trap is the program's.
            if (index >= 0 && original[index] == 0xcc) index = -1;
            if (index >= 0) {
                regs.rip -= 1;
                ptrace(PTRACE_SETREGS, pid, 0, &regs);
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/mem", pid);
                int mem = open(path, O_RDWR);
                uint8_t byte = (uint8_t)original[index];
                if (mem < 0 || pwrite(mem, &byte, 1, (off_t)regs.rip) != 1) {
                    perror("trace-calls: disarm"); return 70;
                }
                close(mem);
                if (tracees[i].phase == 's' && index == marker) {
                    tracees[i].phase = 'h';
                    arm(pid, (size_t)index);
                }
                fprintf(out, "%c %lx\n", tracees[i].phase, (unsigned long)functions[index]);
            } else {
                deliver = sig;  // not ours
            }
        } else if (sig != SIGSTOP && sig != SIGTRAP) {
            deliver = sig;
        }
        ptrace(PTRACE_CONT, pid, 0, deliver);
    }
    fclose(out);
    return exit_code;
}
