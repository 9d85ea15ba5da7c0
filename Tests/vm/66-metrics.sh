# cgroup v2: watch --metrics-file counts what the kernel reported and what watch did, exactly (issue 15):
# the kernel's own OOM kill is counted as such (and as a handling that only reported it), and page-cache
# wake-ups at memory.high that are not distress count as wake-ups, never as handlings or kills.

# metric FILE NAME [LABEL=VALUE]: the sum of the samples of NAME (with that label, if given); 0 if none.
metric() {
    awk -v name="$2" -v label="$3" '
        $1 == name || index($1, name "{") == 1 {
            if (label == "" || index($1, label) > 0) { sum += $NF }
        }
        END { printf "%d", sum }' "$1"
}

MSG_DETECTED=f8bce7f8825149299c788ac8be78c796
kernel=$(uname -r)

# --- the kernel's OOM kill -------------------------------------------------------------------------------
d=$(mkcg /mx/kill) || { fail mkcg "cannot create /mx/kill"; exit 0; }
echo 32M >"$d/memory.max"
kills0=$(memevent /mx/kill oom_kill)
start_watch /tmp/mx-kill.json /mx/kill --on oom-kill --metrics-file /tmp/mx-kill.prom --metrics-interval 0s
run_in_cg /mx/kill dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null
wait_for 20 sh -c '[ "$(awk '"'"'index($1, "oomctl_handlings_total{") == 1 { s += $NF } END { print s + 0 }'"'"' /tmp/mx-kill.prom)" -ge 1 ]' ||
    fail mx-kill-handled "no handling counted: $(tail -c 400 /tmp/mx-kill.json)"
stop_watch mx-kill-watch-stopped /tmp/mx-kill.json
kernel_kills=$(( $(memevent /mx/kill oom_kill) - kills0 ))
counted=$(metric /tmp/mx-kill.prom oomctl_kernel_oom_kills_total 'cgroup="/mx/kill"')
if [ "$kernel_kills" -ge 1 ] && [ "$counted" = "$kernel_kills" ]; then pass mx-kernel-kills-exact
else fail mx-kernel-kills-exact "memory.events oom_kill moved by $kernel_kills, oomctl_kernel_oom_kills_total $counted"; fi
check mx-events-oom-kill-exact test "$(metric /tmp/mx-kill.prom oomctl_events_total 'kind="oom-kill"')" = "$kernel_kills"
check mx-one-reported-handling test "$(metric /tmp/mx-kill.prom oomctl_handlings_total 'outcome="reported"')" = 1
check mx-no-other-handling test "$(metric /tmp/mx-kill.prom oomctl_handlings_total)" = 1
check mx-no-oomctl-kill test "$(metric /tmp/mx-kill.prom oomctl_kills_total)" = 0
figure mx-kill "[$kernel] kernel kills $kernel_kills, counted $counted"

# --- page cache at memory.high: wake-ups, not handlings ------------------------------------------------------
need_pagecache || exit 0
big=$(make_file big 110) || { fail make-file "cannot write a 110 MiB file"; exit 0; }
d=$(mkcg /mx/app) || { fail mkcg "cannot create /mx/app"; exit 0; }
echo 64M >"$d/memory.max"
echo 48M >"$d/memory.high"
high0=$(memevent /mx/app high)
max0=$(memevent /mx/app max)
start_watch /tmp/mx-app.json /mx/app -v --kill largest --metrics-file /tmp/mx-app.prom --metrics-interval 0s
spawn_in_cg /mx/app dd if="$big" of=/dev/null bs=1M
wait $SPAWNED
st=$?
sleep 0.7   # a verdict's window and its settle time
stop_watch mx-app-watch-stopped /tmp/mx-app.json
high=$(( $(memevent /mx/app high) - high0 ))
max=$(( $(memevent /mx/app max) - max0 ))
wakeups=$(metric /tmp/mx-app.prom oomctl_wakeups_not_in_distress_total 'cgroup="/mx/app"')
seen_high=$(metric /tmp/mx-app.prom oomctl_events_total 'kind="high"')
seen_max=$(metric /tmp/mx-app.prom oomctl_events_total 'kind="max"')
check mx-reader-untouched test "$st" = 0
if [ "$wakeups" -ge 1 ] && [ "$wakeups" -le $((seen_high + seen_max)) ]; then pass mx-wake-ups-counted
else fail mx-wake-ups-counted "wake-ups not in distress $wakeups, events high $seen_high max $seen_max"; fi
check mx-wake-ups-not-handlings test "$(metric /tmp/mx-app.prom oomctl_handlings_total)" = 0
check mx-no-kills test "$(metric /tmp/mx-app.prom oomctl_kills_total)" = 0
if [ "$seen_high" = "$high" ] && [ "$seen_max" = "$max" ]; then pass mx-events-exact
else fail mx-events-exact "memory.events high +$high max +$max; oomctl_events_total high $seen_high max $seen_max"; fi
figure mx-app "[$kernel] memory.events high +$high max +$max, counted high $seen_high max $seen_max, wake-ups not in distress $wakeups, handlings $(metric /tmp/mx-app.prom oomctl_handlings_total)"
