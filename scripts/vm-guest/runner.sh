# Runs every /vmtest/tests/NN-name.sh in order, each as its own shell in its own leaf cgroup
# (/vmtest-NN-name), under a per-test timeout, then cleans up every cgroup the test left behind and,
# when the script wrote to it, makes the page-cache file system (lib.sh, pagecache_setup) fresh again.
. /vmtest/config
. /vmtest/lib.sh

# Global setup; a failure here is reported like a test so the host sees it.
VMTEST_SCRIPT=00-setup
if mount -t cgroup2 cgroup2 "$CG" ; then pass cgroup2-mounted; else fail cgroup2-mounted "mount failed"; fi
for c in memory pids; do
    if echo "+$c" >"$CG/cgroup.subtree_control"; then pass "enable-$c"
    else fail "enable-$c" "cannot enable +$c, controllers: $(cat "$CG/cgroup.controllers")"; fi
done
# Page cache on a RAM disk (brd) for the tests that need it; a failure fails the run here, and again in
# every script that calls need_pagecache.
if pagecache_setup; then
    pagecache=1
    pass pagecache-ready
    echo "vmtest: page cache: $(grep "^$PAGECACHE_DEV " /proc/mounts)"
else
    pagecache=0
    fail pagecache-ready "$(cat "$PAGECACHE_ERROR")"
fi
echo "vmtest: kernel $(uname -r), controllers: $(cat $CG/cgroup.subtree_control), per-test timeout ${VMTEST_PER_TEST_TIMEOUT}s"

ran=0
for t in /vmtest/tests/[0-9]*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    ran=$((ran + 1))
    t0=$(cut -d' ' -f1 /proc/uptime)
    echo "@@vmtest BEGIN $name"
    : >/run/vmtest/results
    leaf=$CG/vmtest-$name
    mkdir "$leaf"
    # Each test is a fresh shell, moved into its own leaf cgroup before it starts (so leftovers can
    # be killed with cgroup.kill), with the helpers from lib.sh loaded.
    set -- sh -c 'echo $$ >"$1/cgroup.procs" && cd /tmp && VMTEST_SCRIPT=$2 && . /vmtest/lib.sh && . "$3"' \
        sh "$leaf" "$name" "$t"
    if [ "$VMTEST_PER_TEST_TIMEOUT" -gt 0 ]; then
        timeout -s KILL "$VMTEST_PER_TEST_TIMEOUT" "$@"
    else
        "$@"
    fi
    status=$?
    VMTEST_SCRIPT=$name
    if [ "$VMTEST_PER_TEST_TIMEOUT" -gt 0 ] && [ $status = 137 ]; then
        fail timeout "killed after the per-test timeout of ${VMTEST_PER_TEST_TIMEOUT}s"
    elif [ $status != 0 ]; then
        fail exit-status "the script exited with status $status"
    elif ! [ -s /run/vmtest/results ]; then
        fail no-result "the script reported no check"
    fi
    cleanup_cgroups
    if [ $pagecache = 1 ] && { pagecache_used || ! pagecache_mounted; }; then
        pagecache_reset || fail pagecache-reset "$(cat "$PAGECACHE_ERROR")"
    fi
    echo "@@vmtest DONE $name $(awk -v t0="$t0" '{ printf "%.1f", $1 - t0 }' /proc/uptime)s"
done
echo "@@vmtest END $ran"
