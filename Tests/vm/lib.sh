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

# --- the v2 part of the fault harness (Tests/faults/run is the v1 part) ------------------------------
# `scripts/vm-test --faults long` writes VMTEST_FAULTS=long into /vmtest/config: the fault trials of
# 75-v2-hardening run many times instead of a few.
[ -r /vmtest/config ] && . /vmtest/config
# pick SHORT LONG: the number of trials for this run.
pick() { if [ "${VMTEST_FAULTS:-short}" = long ]; then echo "$2"; else echo "$1"; fi; }
# max_of A B: the larger of two integers.
max_of() { if [ "$1" -ge "$2" ]; then echo "$1"; else echo "$2"; fi; }
# fault_row FAULT TRIALS HELD WORST_MS WHAT: one row of the fault table, as a figure; kept for fault_json.
FAULT_ROWS=
fault_row() {
    figure "fault-$1" "trials $2 held $3 worst ${4} ms: $5"
    FAULT_ROWS="$FAULT_ROWS${FAULT_ROWS:+,}{\"fault\":\"$1\",\"trials\":$2,\"held\":$3,\"worstMs\":$4}"
    [ "$2" -gt 0 ] && [ "$2" = "$3" ] || FAULTS_FAILED=1
}
# fault_json: the fault table of this script as one JSON line (a figure), like Tests/faults/run's.
fault_json() {
    if [ -z "${FAULTS_FAILED:-}" ]; then _held=true; else _held=false; fi
    figure fault-json "{\"faults\":[$FAULT_ROWS],\"mode\":\"${VMTEST_FAULTS:-short}\",\"kernel\":\"$(uname -r)\",\"allHeld\":$_held}"
}

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
# cgroups deepest first. A cgroup that keeps a process after cgroup.kill, or cannot be removed, fails
# the script (cleanup-killed, cleanup-removed): the next script would start on what it left.
cleanup_cgroups() {
    find $CG -mindepth 1 -type d | sort -r | while IFS= read -r _d; do
        [ -e "$_d/cgroup.kill" ] && echo 1 >"$_d/cgroup.kill" 2>/dev/null
    done
    find $CG -mindepth 1 -type d | sort -r | while IFS= read -r _d; do
        wait_for 5 sh -c '! grep -q . "$1/cgroup.procs" 2>/dev/null' sh "$_d" \
            || fail cleanup-killed "cgroup $_d still has processes after cgroup.kill: $(head -c 200 "$_d/cgroup.procs" | tr '\n' ' ')"
        rmdir "$_d" 2>/dev/null || fail cleanup-removed "cannot remove cgroup $_d: $(rmdir "$_d" 2>&1)"
    done
}

# --- real, reclaimable page cache ------------------------------------------------------------------
# The initramfs is RAM (shmem, charged at unpack): nothing in it is reclaimable page cache. A RAM block
# device (brd, a module scripts/vm-test takes from the kernel package) with an ext2 file system (ext4
# driver) gives files whose page cache is charged to the cgroup that reads them and reclaimable; brd's
# own pages are not charged to any test cgroup. The runner sets it up once before the tests
# (pagecache_setup) and makes it fresh again after a script that wrote to it (pagecache_reset), so the
# next script finds an empty file system and brd holding no file data.
PAGECACHE_DIR=/mnt/d
PAGECACHE_DEV=/dev/ram0
PAGECACHE_MODULE=/vmtest/brd.ko
PAGECACHE_ERROR=/run/vmtest/pagecache.error   # why the setup failed, when it did

pagecache_mounted() { grep -q "^$PAGECACHE_DEV $PAGECACHE_DIR " /proc/mounts; }

# pagecache_setup: load brd (one 160 MiB RAM disk), make a file system on it and mount it at
# $PAGECACHE_DIR. On failure returns 1 and leaves the reason in $PAGECACHE_ERROR.
pagecache_setup() {
    rm -f "$PAGECACHE_ERROR"
    _e=
    if ! [ -f "$PAGECACHE_MODULE" ]; then
        _e="no $PAGECACHE_MODULE in the initramfs"
    elif ! grep -q '^brd ' /proc/modules && ! _o=$(insmod "$PAGECACHE_MODULE" rd_nr=1 rd_size=163840 2>&1); then
        _e="insmod brd.ko failed: $_o"
    elif ! wait_for 5 test -b "$PAGECACHE_DEV"; then
        _e="no block device $PAGECACHE_DEV after insmod brd.ko"
    elif ! _o=$(mke2fs -q "$PAGECACHE_DEV" 2>&1); then
        _e="mke2fs $PAGECACHE_DEV failed: $_o"
    elif ! mkdir -p "$PAGECACHE_DIR" || ! _o=$(mount -t ext4 "$PAGECACHE_DEV" "$PAGECACHE_DIR" 2>&1); then
        _e="mount -t ext4 $PAGECACHE_DEV $PAGECACHE_DIR failed: $_o"
    fi
    [ -z "$_e" ] && return 0
    echo "$_e" >"$PAGECACHE_ERROR"
    return 1
}

# pagecache_used: whether anything but lost+found is on the file system.
pagecache_used() { pagecache_mounted && [ -n "$(ls -A "$PAGECACHE_DIR" | grep -vx lost+found)" ]; }

# pagecache_reset: unmount, unload brd (which frees every page it holds) and set it up again.
pagecache_reset() {
    if pagecache_mounted && ! _o=$(umount "$PAGECACHE_DIR" 2>&1); then
        echo "umount $PAGECACHE_DIR failed: $_o" >"$PAGECACHE_ERROR"; return 1
    fi
    if ! _o=$(rmmod brd 2>&1); then echo "rmmod brd failed: $_o" >"$PAGECACHE_ERROR"; return 1; fi
    pagecache_setup
}

# need_pagecache: for a script that needs page cache; fails the check `pagecache-available` (with the
# reason) and returns 1 when there is none, so `need_pagecache || exit 0` ends the script loudly.
need_pagecache() {
    if pagecache_mounted; then return 0; fi
    fail pagecache-available "no file system on $PAGECACHE_DEV at $PAGECACHE_DIR: $(cat "$PAGECACHE_ERROR" 2>/dev/null || echo 'setup never ran')"
    return 1
}

# make_file NAME SIZE_MIB: write SIZE_MIB MiB to $PAGECACHE_DIR/NAME, sync it to the RAM disk and drop
# the page cache, so the next reader's cgroup is charged for every page it reads. Prints the path.
make_file() {
    pagecache_mounted || { echo "make_file: no file system at $PAGECACHE_DIR" >&2; return 1; }
    _f=$PAGECACHE_DIR/$1
    dd if=/dev/zero of="$_f" bs=1M count="$2" 2>/dev/null || { echo "make_file: dd to $_f failed" >&2; return 1; }
    sync
    echo 3 >/proc/sys/vm/drop_caches
    echo "$_f"
}

# spawn_reader /a/b FILE [PASSES]: start a streaming reader in cgroup /a/b that reads FILE from start
# to end PASSES times (default 1; 0 = until killed) with 1 MiB reads and exits 0 when every read
# succeeded; SPAWNED is its PID.
spawn_reader() {
    spawn_in_cg "$1" sh -c 'i=0; while [ "$2" = 0 ] || [ $i -lt "$2" ]; do
        dd if="$1" of=/dev/null bs=1M 2>/dev/null || exit 1; i=$((i + 1)); done' sh "$2" "${3:-1}"
}

# memstat /a/b KEY: the value of KEY in memory.stat.
memstat() { awk -v k="$2" '$1 == k { print $2 }' "$CG$1/memory.stat"; }

# --- oomctl watch in the background ------------------------------------------------------------------
MSG_STARTED=f9ab958d9f114e60890a76818503ac3a
MSG_STOPPED=1d2464975791419ba375de020b1bdb2a

# has_line FILE MESSAGE_ID: whether FILE holds a JSON line with that messageID.
has_line() { grep -q "\"messageID\":\"$2\"" "$1"; }

# start_watch OUT ARGS...: start `oomctl watch ARGS --json` in the background (stdout to OUT, stderr
# to OUT.err), WATCH = its PID; fail when it has not announced itself within 30 s.
start_watch() {
    _out=$1; shift
    # Emptied here, not only by the background job's redirection: that may run after the wait below
    # has read an earlier watch's start in the same file.
    : >"$_out"
    oomctl watch "$@" --json >"$_out" 2>"$_out.err" &
    WATCH=$!
    wait_for 30 has_line "$_out" $MSG_STARTED || fail watch-started "$*: $(head -c 300 "$_out.err") $(head -c 300 "$_out")"
}

# stop_watch CHECK OUT: SIGTERM to WATCH; it stops, reports it and exits 0.
stop_watch() {
    kill -TERM $WATCH
    wait $WATCH
    _st=$?
    if [ $_st = 0 ] && has_line "$2" $MSG_STOPPED; then pass "$1"
    else fail "$1" "watch exit status $_st: $(tail -c 300 "$2.err")"; fi
}

# --- shared by the kill and hardening scripts -------------------------------------------------------
MSG_DETECTED=f8bce7f8825149299c788ac8be78c796
MSG_REMOVED=5238704311a74c2989822b3316bdaa35
MSG_FINISHED=c6c646dc3bcc418d85b74aeab06b2b41
# alive PID / dead PID: whether the process runs; a killed child of this shell not yet reaped is a
# zombie that kill -0 would still find, so look at its state.
alive() { [ -r /proc/$1/status ] && ! grep -q '^State:.*Z' /proc/$1/status 2>/dev/null; }
dead() { ! alive "$1"; }
# jq_lines CHECK FILE FILTER: pass when FILTER is true on the JSON lines of FILE, read as one array.
jq_lines() {
    if jq -s -e "$3" "$2" >/dev/null 2>/tmp/jq.err; then pass "$1"
    else fail "$1" "jq -s '$3' is not true on $2: $(tail -c 600 "$2" | tr '\n' ' ') $(head -c 200 /tmp/jq.err)"; fi
}
# jq_file CHECK FILE FILTER: pass when FILTER is true on FILE.
jq_file() {
    if jq -e "$3" "$2" >/dev/null 2>/tmp/jq.err; then pass "$1"
    else fail "$1" "jq '$3' is not true on $2: $(head -c 400 "$2") $(head -c 200 /tmp/jq.err)"; fi
}
# detections OUT CGROUP: how many "detected" lines of a watch's JSON output name exactly CGROUP.
detections() { grep "\"messageID\":\"$MSG_DETECTED\"" "$1" | grep -c "\"cgroup\":\"$2\""; }
# detected_in OUT CGROUP: at least one (a function, so that wait_for can poll it in this shell).
detected_in() { [ "$(detections "$1" "$2")" -ge 1 ]; }
# uptime_ms: a monotonic clock in ms (busybox date has no %N).
uptime_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
# status_is CHECK WANT CMD...: pass when CMD exits WANT (its output is left in /tmp/st.out).
status_is() {
    _c=$1; _want=$2; shift 2
    "$@" >/tmp/st.out 2>&1
    _st=$?
    if [ $_st = "$_want" ]; then pass "$_c"; else fail "$_c" "'$*' exited $_st, want $_want: $(head -c 300 /tmp/st.out)"; fi
}
