# The example hooks of contrib/hooks on cgroup v2, run by oomctl watch the way the environment file's
# examples run them (installed as scripts/install puts them). /w/throttle has memory.max 64M and, from
# `oomctl reserve /w/throttle 8M`, memory.high 56M; its leaf /w/throttle/job holds a hog allocating 200M
# at 20M/s and a "profiler" that handles USR1. At the first high event:
#  - throttle-memory-high lowers memory.high to 75 % of memory.max (48M): the kernel throttles the hog
#    instead of OOM-killing it at memory.max;
#  - log-vm-statistics writes one file with the v2 page cache figures ("file" in memory.stat);
#  - dump-heap-profile finds the profiler in the leaf below the watched cgroup and signals it, and
#    not the hog, which has no handler.

HOOKS=/usr/local/libexec/oomctl/hooks

mkcg /w/throttle/job >/dev/null || { fail mkcg "cannot create /w/throttle/job"; exit 0; }
d=$CG/w/throttle
echo 64M >$d/memory.max
out=$(oomctl reserve /w/throttle 8M 2>&1) || fail reserve-set "$out"
check reserve-high-56M grep -qx 58720256 $d/memory.high

rm -rf /tmp/vmstats /tmp/profile
spawn_in_cg /w/throttle/job sh -c 'trap "echo dumped >/tmp/profile" USR1; sleep 600 & while :; do wait $!; done'
PROFILER=$SPAWNED
export THROTTLE_FRACTION=75 VM_STATISTICS_DIR=/tmp/vmstats HEAP_PROFILE_WAIT=0.2
oomctl watch /w/throttle --on high --hook $HOOKS/throttle-memory-high --hook $HOOKS/log-vm-statistics \
    --hook $HOOKS/dump-heap-profile --json >/tmp/w-t.json 2>/tmp/w-t.err &
WATCH=$!
wait_for 30 has_line /tmp/w-t.json $MSG_STARTED || fail watch-started "$(head -c 300 /tmp/w-t.err)"
spawn_in_cg /w/throttle/job oomctl hog 200M --rate 20M
HOG=$SPAWNED

if wait_for 30 grep -qx 50331648 $d/memory.high; then pass throttle-high-lowered
else fail throttle-high-lowered "memory.high $(cat $d/memory.high); $(tail -c 600 /tmp/w-t.json)"; fi
# The hook runs while the reserve is granted (memory.high lifted to memory.max); what it sets stays.
# Its words reach the log when it has exited, which may be a little after its write to memory.high.
said='memory.high (58720256|67108864) -> 50331648 \(75% of memory.max 67108864\)'
if wait_for 10 grep -qE "$said" /tmp/w-t.json; then pass throttle-hook-said-so
else fail throttle-hook-said-so "$(tail -c 600 /tmp/w-t.json)"; fi
sleep 3
check throttle-high-kept-after-the-grant grep -qx 50331648 $d/memory.high
check throttle-hog-still-running kill -0 $HOG
check_event throttle-no-oom-kill /w/throttle oom_kill -eq 0
check throttle-below-max sh -c "[ \$(cat $d/memory.current) -lt 67108864 ]"
figure throttle-usage "memory.current $(cat $d/memory.current), memory.high $(cat $d/memory.high), memory.max 67108864; $(memevent /w/throttle high) high events"

f=$(ls /tmp/vmstats/vm-statistics-*-1-*.txt 2>/dev/null | head -n 1)
check vmstats-one-file test -s "$f"
check vmstats-header grep -q '^oomctl high in /w/throttle at ' "$f"
check vmstats-v2-file-pages grep -q '^file [0-9]' "$f"
check vmstats-slabinfo grep -q '^slabinfo - version' "$f"

if wait_for 5 grep -qx dumped /tmp/profile; then pass heap-profile-signalled
else fail heap-profile-signalled "$(grep -o '"output":"dump-heap-profile[^"]*"' /tmp/w-t.json | head -n 2)"; fi
check heap-profile-hog-skipped grep -q "not signalled (no handler for USR1):.* $HOG(oomctl)" /tmp/w-t.json

kill -TERM $WATCH
wait $WATCH
status=$?
if [ $status = 0 ] && has_line /tmp/w-t.json $MSG_STOPPED; then pass watch-stopped
else fail watch-stopped "exit status $status: $(tail -c 300 /tmp/w-t.err)"; fi

# The hog is throttled, not dead: end it and the profiler here, and wait until the group is empty.
echo 1 >$d/cgroup.kill
wait $HOG $PROFILER 2>/dev/null
if wait_for 10 grep -qx 'populated 0' $d/cgroup.events; then pass group-emptied
else fail group-emptied "$(cat $d/cgroup.events | tr '\n' ' ')"; fi
