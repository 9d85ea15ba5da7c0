# oomctl reserve on cgroup v2: memory.high = memory.max − reserve at once; `high` events then reach
# watch's hook before any OOM kill (dd reads 36M into one buffer: ~12% over the 32M high, far below the
# 48M max); watch moves memory.high when memory.max changes; --clear puts the previous memory.high back;
# the same call twice changes nothing.


d=$(mkcg /r/app) || { fail mkcg "cannot create /r/app"; exit 0; }
echo 48M >$d/memory.max
check high-starts-max grep -qx max $d/memory.high

out=$(oomctl reserve /r/app 16M 2>&1)
status=$?
if [ $status = 0 ]; then pass reserve-set; else fail reserve-set "exit $status: $out"; fi
check reserve-high-is-max-minus-reserve grep -qx 33554432 $d/memory.high
case $out in *"memory.high 32M = memory.max 48M − 16M, was max"*) pass reserve-output ;; *) fail reserve-output "$out" ;; esac
again=$(oomctl reserve /r/app 16M 2>&1)
case $again in *"(unchanged)"*) pass reserve-idempotent ;; *) fail reserve-idempotent "$again" ;; esac
check reserve-json sh -c 'oomctl reserve /r/app --json | jq -e ".reserve.bytes == 16777216 and .reserve.high == 33554432 and .reserve.version == 2"'

rm -f /tmp/rhook.log
oomctl watch /r/app --on high,oom-kill --hook 'echo "$OOMCTL_EVENT" >>/tmp/rhook.log' --json >/tmp/w-r.json 2>/tmp/w-r.err &
WATCH=$!
wait_for 30 has_line /tmp/w-r.json $MSG_STARTED || fail watch-started "$(head -c 300 /tmp/w-r.err)"
run_in_cg /r/app dd if=/dev/zero of=/dev/null bs=36M count=1 2>/dev/null
status=$?
if [ $status = 0 ]; then pass reserve-hog-completed; else fail reserve-hog-completed "dd exit status $status"; fi
check_event reserve-high-events /r/app high -ge 1
check_event reserve-no-oom-kill /r/app oom_kill -eq 0
if wait_for 10 grep -qx high /tmp/rhook.log; then pass reserve-high-hook-ran; else fail reserve-high-hook-ran "$(tail -c 400 /tmp/w-r.json)"; fi
check reserve-no-oom-kill-hook sh -c '! grep -q oom-kill /tmp/rhook.log'
# memory.max raised while watch runs: memory.high follows it (inotify on memory.max), the reserve stays 16M.
echo 64M >$d/memory.max
if wait_for 3 grep -qx 50331648 $d/memory.high; then pass reserve-high-follows-max
else fail reserve-high-follows-max "memory.high $(cat $d/memory.high); $(tail -c 300 /tmp/w-r.json)"; fi
kill -TERM $WATCH
wait $WATCH

cleared=$(oomctl reserve /r/app --clear 2>&1)
case $cleared in *"cleared; memory.high max again"*) pass reserve-clear-output ;; *) fail reserve-clear-output "$cleared" ;; esac
check reserve-clear-restores-high grep -qx max $d/memory.high
check reserve-cleared sh -c 'oomctl reserve /r/app --json | jq -e ".reserve == null"'

# --- watch --protect-self: memory.min of watch's own cgroup while it runs, the previous value after -----
p=$(mkcg /selfp) || { fail mkcg "cannot create /selfp"; exit 0; }
spawn_in_cg /selfp sh -c 'exec oomctl watch /r/app --on high --self-reserve 8M --protect-self --json >/tmp/w-p.json 2>/tmp/w-p.err'
if wait_for 30 has_line /tmp/w-p.json $MSG_STARTED; then pass protect-watch-started
else fail protect-watch-started "$(head -c 300 /tmp/w-p.err)"; fi
min=$(cat $p/memory.min)
if [ "$min" -ge 8388608 ]; then pass protect-self-min-set; else fail protect-self-min-set "memory.min $min; $(head -c 400 /tmp/w-p.json)"; fi
check protect-self-in-startup-line grep -q 'memory.min [0-9.]*M on /selfp' /tmp/w-p.json
kill -TERM $SPAWNED
wait $SPAWNED
check protect-self-min-restored grep -qx 0 $p/memory.min
