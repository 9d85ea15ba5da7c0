# oomctl watch on cgroup v2: a real OOM kill (memory.events oom_kill) → the hook runs with the event in
# its environment and on stdin, and a snapshot is written; memory.high overshoot → the high hook runs,
# and a storm of high events is coalesced; a PSI trigger on memory.pressure → the pressure hook runs.

MSG_DETECTED=f8bce7f8825149299c788ac8be78c796
MSG_HOOK_FINISHED=92b436cd57974deca4ba5cce493b7367

# wait_jq_lines CHECK FILE FILTER: like jq_lines, but waits up to 20 s for FILTER to become true (for a
# line that comes when a handling ends, e.g. after its hooks have run).
wait_jq_lines() {
    if wait_for 20 sh -c 'jq -s -e "$1" "$2" >/dev/null 2>&1' sh "$3" "$2"; then pass "$1"
    else jq_lines "$1" "$2" "$3"; fi
}
# --- oom-kill → hook and snapshot ---------------------------------------------------------------------
d=$(mkcg /w/oom) || { fail mkcg "cannot create /w/oom"; exit 0; }
echo 32M >$d/memory.max
mkdir -p /tmp/snaps
rm -f /tmp/snaps/* /tmp/oomhook.*
# The hook records its environment and its stdin; it runs in its own shell, so nothing from the
# cgroup name is interpolated into a command line.
start_watch /tmp/w-oom.json /w/oom --on oom-kill --snapshot-dir /tmp/snaps \
    --hook 'env | grep ^OOMCTL_ | sort >/tmp/oomhook.env.$OOMCTL_HANDLING_ID; cat >/tmp/oomhook.in.$OOMCTL_HANDLING_ID' \
    --hook 'echo "$OOMCTL_EVENT" >/tmp/oomhook.second; cat /proc/self/oom_score_adj >/tmp/oomhook.adj'
run_in_cg /w/oom dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null
status=$?
if [ $status = 137 ]; then pass oom-hog-killed; else fail oom-hog-killed "dd exit status $status, not 137"; fi
check_event oom-kill-counted /w/oom oom_kill -ge 1
if wait_for 20 has_line /tmp/w-oom.json $MSG_FINISHED; then pass oom-handling-finished
else fail oom-handling-finished "no finished line: $(tail -c 600 /tmp/w-oom.json | tr '\n' ' ')"; fi
check oom-hook-ran test -s /tmp/oomhook.env.1
# The first hook exits 0 and usage is back under the limit, but the kernel resolved this OOM, not the
# hook: the second hook runs too (it used to be skipped as "resolved by hook").
check oom-second-hook-ran grep -qx oom-kill /tmp/oomhook.second
# watch protects itself with oom_score_adj -1000; its hooks must stay killable (0), children included.
check oom-watch-score-adj-protected grep -qx -e -1000 /proc/$WATCH/oom_score_adj
check oom-hook-score-adj-zero grep -qx 0 /tmp/oomhook.adj
check oom-hook-env-event grep -qx 'OOMCTL_EVENT=oom-kill' /tmp/oomhook.env.1
check oom-hook-env-cgroup grep -qx 'OOMCTL_CGROUP=/w/oom' /tmp/oomhook.env.1
check oom-hook-env-version grep -qx 'OOMCTL_CGROUP_VERSION=2' /tmp/oomhook.env.1
check oom-hook-env-limit grep -qx 'OOMCTL_LIMIT=33554432' /tmp/oomhook.env.1
check oom-hook-stdin sh -c 'jq -e ".event == \"oom-kill\" and .cgroup == \"/w/oom\" and .version == 2 and .count >= 1" /tmp/oomhook.in.1'
snap=$(sed -n 's/^OOMCTL_SNAPSHOT=//p' /tmp/oomhook.env.1)
case $snap in /tmp/snaps/*) pass oom-hook-env-snapshot ;; *) fail oom-hook-env-snapshot "OOMCTL_SNAPSHOT='$snap'" ;; esac
check oom-snapshot-file test -s "$snap"
check oom-snapshot-mode-0600 sh -c "[ \"\$(stat -c %a '$snap')\" = 600 ]"
check oom-snapshot-json jq -e '.root == "/w/oom" and (.cgroups[0].events.oomKill >= 1)' "$snap"
check oom-hook-stdin-snapshot sh -c "jq -e '.snapshot == \"$snap\"' /tmp/oomhook.in.1"
jq_lines oom-detected-line /tmp/w-oom.json "any(.[]; .messageID == \"$MSG_DETECTED\" and .event == \"oom-kill\" and .cgroup == \"/w/oom\")"
jq_lines oom-hook-line /tmp/w-oom.json "any(.[]; .messageID == \"$MSG_HOOK_FINISHED\" and .exit_status == 0)"
jq_lines oom-finished-reported /tmp/w-oom.json "any(.[]; .messageID == \"$MSG_FINISHED\" and .outcome == \"reported\" and .cgroup == \"/w/oom\")"
# The kernel had already killed the hog: watch killed nothing itself, only one handling ran.
jq_lines oom-one-handling /tmp/w-oom.json "[.[] | select(.messageID == \"$MSG_DETECTED\")] | length == 1"
stop_watch oom-watch-stopped /tmp/w-oom.json

# --- the default v2 events (oom-kill, high, max): an OOM kill after max events still reaches the hook --
# memory.events counts max (and oom) before oom_kill, often in the same read: the oom-kill must not be
# swallowed by the handling of the max event that came just before it.
mkcg /w/dflt >/dev/null || { fail mkcg "cannot create /w/dflt"; exit 0; }
echo 32M >$CG/w/dflt/memory.max
rm -f /tmp/dflthook.log
start_watch /tmp/w-dflt.json /w/dflt --hook 'echo "$OOMCTL_EVENT" >>/tmp/dflthook.log; sleep 0.3'
run_in_cg /w/dflt dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null
check_event dflt-oom-kill-counted /w/dflt oom_kill -ge 1
if wait_for 20 grep -qx oom-kill /tmp/dflthook.log; then pass dflt-oom-kill-hook
else fail dflt-oom-kill-hook "hook saw: $(tr '\n' ' ' </tmp/dflthook.log 2>/dev/null); lines: $(grep -o '"event":"[a-z-]*"\|"coalesced":"[0-9]*"' /tmp/w-dflt.json | tr '\n' ' ')"; fi
# A max event is handled only on distress: when the first sample already shows the dd buffer at the
# ceiling its hook runs first; when the kernel's kill comes within the verdict's window, the oom-kill's
# does. Either way the max handling never comes after the kill it led to.
check dflt-max-hook-not-after-the-kill sh -c 'head -n 1 /tmp/dflthook.log | grep -qx -e max -e oom-kill && ! sed -n "2,\$p" /tmp/dflthook.log | grep -qx max'
# The oom-kill handling finishes after its hook (which sleeps 0.3 s): wait for its own finished line.
wait_jq_lines dflt-oom-kill-reported /tmp/w-dflt.json "[.[] | select(.messageID == \"$MSG_DETECTED\" and .event == \"oom-kill\") | .handling_id] as \$ids | any(.[]; .messageID == \"$MSG_FINISHED\" and .outcome == \"reported\" and (.handling_id as \$h | any(\$ids[]; . == \$h)))"
stop_watch dflt-watch-stopped /tmp/w-dflt.json

# --- high → hook, coalesced under a storm --------------------------------------------------------------
# memory.high 32M below memory.max 64M; dd reads 36M into one buffer: ~12% over high (no swap: the
# kernel throttles it for a few seconds, counting a high event every 64 pages over), never near max.
mkcg /w/high >/dev/null || { fail mkcg "cannot create /w/high"; exit 0; }
echo 64M >$CG/w/high/memory.max
echo 32M >$CG/w/high/memory.high
rm -f /tmp/highhook.log
# A slow hook (0.5 s), so the storm's events arrive while a handling runs.
start_watch /tmp/w-high.json /w/high --on high \
    --hook 'echo "$OOMCTL_EVENT $OOMCTL_COUNT" >>/tmp/highhook.log; sleep 0.5'
run_in_cg /w/high dd if=/dev/zero of=/dev/null bs=36M count=1 2>/dev/null
status=$?
if [ $status = 0 ]; then pass high-hog-completed; else fail high-hog-completed "dd exit status $status"; fi
check_event high-events-counted /w/high high -ge 2
check_event high-no-oom /w/high oom -eq 0
# Let the last handling finish.
wait_for 10 sh -c '[ "$(grep -c "\"messageID\":\"'$MSG_DETECTED'\"" /tmp/w-high.json)" = "$(grep -c "\"messageID\":\"'$MSG_FINISHED'\"" /tmp/w-high.json)" ]'
sleep 1
high_events=$(memevent /w/high high)
hook_runs=$(grep -c '^high ' /tmp/highhook.log 2>/dev/null)
echo "vmtest: high events $high_events, hook runs ${hook_runs:-0}"
if [ "${hook_runs:-0}" -ge 1 ]; then pass high-hook-ran; else fail high-hook-ran "no hook run; lines: $(tail -c 400 /tmp/w-high.json)"; fi
if [ "${hook_runs:-0}" -lt "$high_events" ]; then pass high-fewer-hooks-than-events
else fail high-fewer-hooks-than-events "$hook_runs hook runs for $high_events high events"; fi
jq_lines high-detected-line /tmp/w-high.json "any(.[]; .messageID == \"$MSG_DETECTED\" and .event == \"high\" and .cgroup == \"/w/high\")"
jq_lines high-coalesced-on-finished /tmp/w-high.json "any(.[]; .messageID == \"$MSG_FINISHED\" and (.coalesced | tonumber) > 0)"
# Every high event is accounted for: handled (the count on each detected line, "high in CG (Nx)") or
# coalesced into a handling (the finished lines).
accounted=$(jq -s "([.[] | select(.messageID == \"$MSG_DETECTED\") | .message | capture(\"\\\\((?<n>[0-9]+)x\\\\)\").n | tonumber] | add) + ([.[] | select(.messageID == \"$MSG_FINISHED\") | .coalesced | tonumber] | add)" /tmp/w-high.json)
if [ "$accounted" = "$high_events" ]; then pass high-all-accounted
else fail high-all-accounted "handled + coalesced = $accounted, memory.events high = $high_events"; fi
stop_watch high-watch-stopped /tmp/w-high.json

# --- PSI trigger → hook ----------------------------------------------------------------------------------
# The same overshoot: the kernel's throttling above memory.high is a memory stall, so "some" pressure.
mkcg /w/psi >/dev/null || { fail mkcg "cannot create /w/psi"; exit 0; }
echo 64M >$CG/w/psi/memory.max
echo 32M >$CG/w/psi/memory.high
rm -f /tmp/psihook.log
start_watch /tmp/w-psi.json /w/psi --on pressure --pressure "some 50ms 500ms" \
    --hook 'echo "$OOMCTL_EVENT $OOMCTL_CGROUP" >>/tmp/psihook.log'
run_in_cg /w/psi dd if=/dev/zero of=/dev/null bs=36M count=1 2>/dev/null
if wait_for 10 grep -qx 'pressure /w/psi' /tmp/psihook.log; then pass psi-hook-ran
else fail psi-hook-ran "no pressure hook; memory.pressure: $(tr '\n' ' ' <$CG/w/psi/memory.pressure); lines: $(tail -c 400 /tmp/w-psi.json)"; fi
jq_lines psi-detected-line /tmp/w-psi.json "any(.[]; .messageID == \"$MSG_DETECTED\" and .event == \"pressure\" and .cgroup == \"/w/psi\")"
jq_lines psi-no-high-handled /tmp/w-psi.json "all(.[]; .event != \"high\")"
stop_watch psi-watch-stopped /tmp/w-psi.json
