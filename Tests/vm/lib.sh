# Helpers for the in-guest cgroup v2 tests (busybox sh). Every test script NN-name.sh in this folder is
# sourced by the guest runner in a fresh shell with this file loaded; it reports each check with
# `pass CHECK` or `fail CHECK REASON...` and may leave processes and cgroups behind: the runner kills
# and removes them after the script. A script that reports no check, exits non-zero or overruns the
# per-test timeout is a failure too.

CG=/sys/fs/cgroup

# Report one check. CHECK is a single word; the host prints it as SCRIPT/CHECK.
pass() { echo "@@vmtest PASS $VMTEST_SCRIPT/$1"; echo "PASS $1" >>/run/vmtest/results; }
fail() {
    _c=$1; shift
    echo "@@vmtest FAIL $VMTEST_SCRIPT/$_c $*"
    echo "FAIL $_c" >>/run/vmtest/results
}

# figure NAME TEXT...: report a measurement (not a check); the host prints "# figure: SCRIPT/NAME TEXT".
figure() { _f=$1; shift; echo "@@vmtest FIGURE $VMTEST_SCRIPT/$_f $*"; }

# check CHECK COMMAND...: pass when COMMAND succeeds, else fail with its output.
check() {
    _c=$1; shift
    if _out=$("$@" 2>&1); then pass "$_c"; else fail "$_c" "'$*' failed: $(echo "$_out" | tail -n 3)"; fi
}

# mkcg /a/b: create the cgroup /a/b (hierarchy-relative) and its ancestors, enabling the memory and
# pids controllers for the children of each ancestor. Prints the absolute path.
mkcg() {
    _p=$CG
    _rest=${1#/}
    while [ -n "$_rest" ]; do
        _part=${_rest%%/*}
        case $_rest in */*) _rest=${_rest#*/} ;; *) _rest= ;; esac
        if [ "$_p" != "$CG" ]; then
            grep -qw memory "$_p/cgroup.subtree_control" || echo "+memory +pids" >"$_p/cgroup.subtree_control" || return 1
        fi
        _p=$_p/$_part
        [ -d "$_p" ] || mkdir "$_p" || return 1
    done
    echo "$_p"
}

# run_in_cg /a/b COMMAND...: run COMMAND as a process that joined cgroup /a/b before it started.
run_in_cg() {
    _dir=$CG${1}; shift
    sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$_dir" "$@"
}

# spawn_in_cg /a/b COMMAND...: start COMMAND in the background in cgroup /a/b (it joins before it
# starts) and set SPAWNED to its PID, which is COMMAND's own PID (the wrapper shell execs it).
spawn_in_cg() {
    _dir=$CG${1}; shift
    sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$_dir" "$@" &
    SPAWNED=$!
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds; fail (1) after SECONDS.
wait_for() {
    _n=$(( $1 * 10 )); shift
    while [ $_n -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        _n=$((_n - 1))
    done
    return 1
}

# memevent /a/b KEY [FILE]: the value of KEY in memory.events (or FILE, e.g. memory.events.local).
memevent() { awk -v k="$2" '$1 == k { print $2 }' "$CG$1/${3:-memory.events}"; }

# event_cmp /a/b KEY OP N [FILE]: whether memory.events (or FILE) KEY compares to N by OP (-eq, -ge, ...).
event_cmp() {
    _v=$(memevent "$1" "$2" "$5")
    [ -n "$_v" ] && test "$_v" "$3" "$4"
}

# check_event CHECK /a/b KEY OP N [FILE]: pass or fail on event_cmp, showing the file when it fails.
check_event() {
    _c=$1; shift
    if event_cmp "$@"; then pass "$_c"
    else fail "$_c" "want $2 $3 $4 in $1/${5:-memory.events}: $(tr '\n' ' ' <"$CG$1/${5:-memory.events}")"; fi
}

# Run by the runner after each script: kill every process in every non-root cgroup, then remove the
# cgroups deepest first.
cleanup_cgroups() {
    find $CG -mindepth 1 -type d | sort -r | while IFS= read -r _d; do
        [ -e "$_d/cgroup.kill" ] && echo 1 >"$_d/cgroup.kill" 2>/dev/null
    done
    find $CG -mindepth 1 -type d | sort -r | while IFS= read -r _d; do
        wait_for 5 sh -c '! [ -s "$1/cgroup.procs" ]' sh "$_d" || echo "vmtest: cgroup $_d still has processes"
        rmdir "$_d" 2>/dev/null || echo "vmtest: cannot remove cgroup $_d"
    done
}
