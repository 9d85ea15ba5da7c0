# oomctl watch --system on cgroup v2 (issue 7): three cgroups /sq/p0, /sq/p5, /sq/p10 with
# user.oomctl.priority 0, 5, 10 (setfattr), each running a growing hog with no limit, squeeze the whole
# guest (512M, no swap). Case "psi": watch --system --min-available 25% --under /sq kills /sq/p0 before
# the kernel's OOM killer acts (no oom_kill in vmstat, memory.events or dmesg, also as seen by the hook
# before the kill), runs the hook with the event and a snapshot, and /sq/p5 and /sq/p10 survive.
# Case "bare": the same without any other memory stall (watch's headroom-sized re-checks). Then the same hogs
# without oomctl, until the kernel OOM killer acts: what it leaves, and whom it kills.
# Figures (issue 7, Performance): trigger → victim's death and MemAvailable then; the kernel's case.

MSG_DETECTED=f8bce7f8825149299c788ac8be78c796
MSG_KILLED=9c57b3fd88bb41d4a3f7ad5c1e8b8205

HOG_SIZE=200M          # each; three of them are far more than the guest has
HOG_RATE=${HOG_RATE:-6M}   # per second each: ~18M/s together
MIN_AVAILABLE=30%

# One awk: "uptime-ms MemAvailable-kB vmstat-oom_kill".
sample() {
    awk 'FNR == 1 && FILENAME == "/proc/uptime" { t = int($1 * 1000) }
         $1 == "MemAvailable:" { m = $2 } $1 == "oom_kill" { o = $2 }
         END { print t, m, o }' /proc/uptime /proc/meminfo /proc/vmstat
}
memavail_kb() { awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo; }
vm_oom_kills() { awk '$1 == "oom_kill" { print $2 }' /proc/vmstat; }
kernel_oom_lines() { dmesg | grep -c 'Out of memory'; }
# start_sampler FILE: a sample every 0.1 s into FILE (SAMPLER = its PID).
start_sampler() { ( while :; do sample; sleep 0.1; done ) >"$1" 2>/dev/null & SAMPLER=$!; }
stop_sampler() { kill $SAMPLER 2>/dev/null; wait $SAMPLER 2>/dev/null; }
# seconds of the day of an RFC 3339 time (…THH:MM:SS.ffffffZ)
tod() { echo "$1" | awk -F'[T:Z]' '{ printf "%.6f", $2 * 3600 + $3 * 60 + $4 }'; }
alive() { kill -0 "$1" 2>/dev/null; }
procs_empty() { ! grep -q . "$CG$1/cgroup.procs"; }
kill_cg() { [ -e "$CG$1/cgroup.kill" ] && echo 1 >"$CG$1/cgroup.kill"; wait_for 5 procs_empty "$1"; }
# start_hogs: one hog per cgroup, PIDs in HOG_p0, HOG_p5, HOG_p10.
start_hogs() {
    for p in p0 p5 p10; do
        spawn_in_cg /sq/$p oomctl hog $HOG_SIZE --rate $HOG_RATE
        eval HOG_$p=$SPAWNED
    done
}
stop_hogs() { for p in p0 p5 p10; do kill_cg /sq/$p; done; for p in p0 p5 p10; do eval "wait \$HOG_$p" 2>/dev/null; done; }

for p in 0 5 10; do
    mkcg /sq/p$p >/dev/null || { fail mkcg "cannot create /sq/p$p"; exit 0; }
done

# --- priorities: user.oomctl.priority on the cgroup directories ---------------------------------------
prio_args=
for p in 0 5 10; do
    setfattr -n user.oomctl.priority -v $p $CG/sq/p$p 2>/tmp/setfattr.err || prio_args="$prio_args --priority /sq/p$p=$p"
done
if [ -z "$prio_args" ] && [ "$(getfattr --only-values -n user.oomctl.priority $CG/sq/p5 2>/dev/null)" = 5 ]; then
    pass priority-xattrs-set
else
    fail priority-xattrs-set "setfattr failed ($(head -c 200 /tmp/setfattr.err)); falling back to$prio_args"
fi

# --- watch --system --------------------------------------------------------------------------------------
# PSI is watch's only wake-up. This guest has nothing to reclaim (no swap, no page cache: the initramfs
# is shmem), so no task stalls on memory until the very last pages are gone: PSI fires at the brink,
# together with the kernel's OOM killer (case "bare" below, recorded as figures). A real machine stalls
# on reclaiming page cache long before; here a small hog throttled above its memory.high in /stall
# (outside /sq, never a candidate) provides that steady memory pressure (case "psi", asserted).
mkdir -p /tmp/syssnaps
# The hook records its environment, its stdin, MemAvailable and every oom_kill counter: it runs after
# the trigger and before the kill, so these show that the kernel had not killed anything by then.
cat >/tmp/syshook.sh <<'HOOK'
env | grep ^OOMCTL_ | sort >/tmp/$1.hook.env
cat >/tmp/$1.hook.in
awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo >/tmp/$1.hook.avail
awk '$1 == "oom_kill" { print $2 }' /proc/vmstat >/tmp/$1.hook.vmstat
cat /sys/fs/cgroup/sq/p0/memory.events /sys/fs/cgroup/sq/p5/memory.events /sys/fs/cgroup/sq/p10/memory.events \
    | awk '$1 == "oom_kill" { n += $2 } END { print n + 0 }' >/tmp/$1.hook.cgkills
HOOK

# watch_case TAG: watch --system (JSON lines in /tmp/w-TAG.json), the hogs, until watch killed or the
# kernel did (bounded); then the hogs and watch are stopped. Sets p0_alive p5_alive p10_alive,
# vm_kills0/1 (vmstat oom_kill before/after), dmesg_oom0, watch_status.
watch_case() {
    tag=$1
    rm -f /tmp/syssnaps/* /tmp/$tag.*
    vm_kills0=$(vm_oom_kills)
    dmesg_oom0=$(kernel_oom_lines)
    echo "vmtest: $tag: MemAvailable $(memavail_kb) kB before the hogs; $(grep MemTotal /proc/meminfo)"
    oomctl watch --system --min-available $MIN_AVAILABLE --under /sq --cooldown 60s $prio_args \
        --hook "sh /tmp/syshook.sh $tag" \
        --post-kill "awk '\$1 == \"MemAvailable:\" { print \$2 }' /proc/meminfo >/tmp/$tag.post.avail" \
        --snapshot-dir /tmp/syssnaps --json >/tmp/w-$tag.json 2>/tmp/w-$tag.json.err &
    WATCH=$!
    if wait_for 30 has_line /tmp/w-$tag.json $MSG_STARTED; then pass $tag-watch-started
    else fail $tag-watch-started "$(head -c 300 /tmp/w-$tag.json.err) $(head -c 300 /tmp/w-$tag.json)"; fi
    # Nothing to do at start-up: memory is plentiful.
    jq_lines $tag-quiet-at-start-up /tmp/w-$tag.json "all(.[]; .messageID != \"$MSG_DETECTED\")"
    start_sampler /tmp/$tag.samples
    start_hogs
    # Bounded: the hogs exhaust the guest (~400 MiB free) within ~25 s; either watch kills or the kernel
    # does.
    wait_for 60 sh -c "grep -q '\"messageID\":\"$MSG_KILLED\"' /tmp/w-$tag.json || [ \$(awk '\$1 == \"oom_kill\" { print \$2 }' /proc/vmstat) -gt $vm_kills0 ]"
    # Right after the kill: who is alive.
    p0_alive=0; alive $HOG_p0 && p0_alive=1
    p5_alive=0; alive $HOG_p5 && p5_alive=1
    p10_alive=0; alive $HOG_p10 && p10_alive=1
    vm_kills1=$(vm_oom_kills)
    # Stop the squeeze at once: the survivors would go on growing.
    stop_hogs
    stop_sampler
    sleep 0.5
    kill -TERM $WATCH
    wait_for 10 sh -c "! kill -0 $WATCH"
    wait $WATCH
    watch_status=$?
    jq -c '{time, messageID, message}' /tmp/w-$tag.json 2>/dev/null | sed "s/^/vmtest: w-$tag: /" | head -n 20
}

# ms_between FILE ID1 ID2: milliseconds from the first ID1 line to the first ID2 line.
ms_between() {
    _a=$(jq -r "select(.messageID == \"$2\") | .time" "$1" | head -n 1)
    _b=$(jq -r "select(.messageID == \"$3\") | .time" "$1" | head -n 1)
    [ -n "$_a" ] && [ -n "$_b" ] && awk -v a="$(tod "$_a")" -v b="$(tod "$_b")" 'BEGIN { printf "%d", (b - a) * 1000 }'
}
lowest_mib() { awk 'NR == 1 || $2 < m { m = $2 } END { print int(m / 1024) }' "$1"; }
detected_mib() {
    jq -r "select(.messageID == \"$MSG_DETECTED\") | .available_bytes // empty" "$1" | head -n 1 \
        | awk '{ print int($1 / 1048576) }'
}
psi_total() { awk '/^some/ { sub("total=", "", $5); print $5 }' /proc/pressure/memory; }

# --- case psi: steady memory pressure, watch pre-empts the kernel --------------------------------------
mkcg /stall >/dev/null || { fail mkcg "cannot create /stall"; exit 0; }
echo 8M >$CG/stall/memory.high
psi0=$(psi_total)
spawn_in_cg /stall oomctl hog 12M
STALL=$SPAWNED
if wait_for 10 sh -c "[ \$(awk '/^some/ { sub(\"total=\", \"\", \$5); print \$5 }' /proc/pressure/memory) -gt $((psi0 + 300000)) ]"; then
    pass psi-stall-source
else
    fail psi-stall-source "no memory pressure from the throttled hog: $(head -n 1 /proc/pressure/memory)"
fi
watch_case psi
kill_cg /stall
wait $STALL 2>/dev/null
if [ $watch_status = 0 ] && has_line /tmp/w-psi.json $MSG_STOPPED; then pass psi-watch-stopped
else fail psi-watch-stopped "watch exit status $watch_status: $(tail -c 300 /tmp/w-psi.json.err)"; fi
if has_line /tmp/w-psi.json $MSG_KILLED; then pass psi-watch-killed
else fail psi-watch-killed "no victimKilled line; vmstat oom_kill $vm_kills0 -> $vm_kills1; lines: $(tail -c 900 /tmp/w-psi.json | tr '\n' ' '); pressure: $(tr '\n' ' ' </proc/pressure/memory)"; fi
jq_lines psi-detected-act /tmp/w-psi.json "any(.[]; .messageID == \"$MSG_DETECTED\" and .event == \"system-act\")"
jq_lines psi-victim-p0 /tmp/w-psi.json "[.[] | select(.messageID == \"$MSG_KILLED\")] | length == 1 and .[0].victim_cgroup == \"/sq/p0\""
if [ $p0_alive = 0 ]; then pass psi-p0-dead; else fail psi-p0-dead "hog in /sq/p0 (PID $HOG_p0) still alive"; fi
if [ $p5_alive = 1 ] && [ $p10_alive = 1 ]; then pass psi-others-survive
else fail psi-others-survive "alive right after the kill: p5=$p5_alive p10=$p10_alive"; fi
# No kernel OOM kill: not when the hook ran (before watch's kill), not after it.
check psi-no-kernel-kill-before test "$(cat /tmp/psi.hook.vmstat 2>/dev/null)" = "$vm_kills0"
check psi-no-cgroup-oom-kill-before test "$(cat /tmp/psi.hook.cgkills 2>/dev/null)" = 0
check psi-no-kernel-kill test "$vm_kills1" = "$vm_kills0"
for p in p0 p5 p10; do check_event psi-no-oom-kill-$p /sq/$p oom_kill -eq 0; done
check psi-no-kernel-oom-message test "$(kernel_oom_lines)" = "$dmesg_oom0"
# The hook ran with the event and a snapshot; the post-kill hook after the kill.
check psi-hook-ran test -s /tmp/psi.hook.env
check psi-hook-env-cgroup grep -qx 'OOMCTL_CGROUP=/sq' /tmp/psi.hook.env
check psi-hook-env-event grep -q '^OOMCTL_EVENT=.' /tmp/psi.hook.env
check psi-hook-stdin jq -e '.cgroup == "/sq"' /tmp/psi.hook.in
snap=$(sed -n 's/^OOMCTL_SNAPSHOT=//p' /tmp/psi.hook.env 2>/dev/null)
case $snap in /tmp/syssnaps/*) pass psi-hook-env-snapshot ;; *) fail psi-hook-env-snapshot "OOMCTL_SNAPSHOT='$snap'" ;; esac
check psi-snapshot-file test -s "$snap"
check psi-snapshot-json jq -e '.cgroups | length >= 1' "$snap"
check psi-post-kill-ran test -s /tmp/psi.post.avail
# Figures: detection (the oomDetected line) → victim dead (the victimKilled line, written once the
# cgroup is empty), and what memory was left then.
ms=$(ms_between /tmp/w-psi.json $MSG_DETECTED $MSG_KILLED)
figure oomctl-trigger-to-death "${ms:-?} ms (oomDetected → victimKilled; hogs $HOG_RATE/s x3, act below $MIN_AVAILABLE)"
figure oomctl-memavailable "at the trigger $(detected_mib /tmp/w-psi.json) MiB; in the hook, just before the kill, $(( $(cat /tmp/psi.hook.avail 2>/dev/null || echo 0) / 1024 )) MiB; after the kill $(( $(cat /tmp/psi.post.avail 2>/dev/null || echo 0) / 1024 )) MiB; lowest sampled $(lowest_mib /tmp/psi.samples) MiB"

# --- case bare: no other source of memory pressure --------------------------------------------------
# Nothing stalls until the last pages, so PSI alone wakes watch too late (measured: at ~6 MiB, after the
# kernel). watch's check interval (--max-check-interval, default 10s) shortens as the headroom above the
# act threshold shrinks (headroom at 1 GiB/s, at least 100 ms): it must catch the squeeze by itself.
watch_case bare
bare_killed=
for p in p0 p5 p10; do [ "$(memevent /sq/$p oom_kill)" -gt 0 ] && bare_killed="$bare_killed /sq/$p"; done
bare_victim=$(jq -r "select(.messageID == \"$MSG_KILLED\") | .victim_cgroup" /tmp/w-bare.json | head -n 1)
bare_woken=$(detected_mib /tmp/w-bare.json)
jq_lines bare-victim-p0 /tmp/w-bare.json "[.[] | select(.messageID == \"$MSG_KILLED\")] | length == 1 and .[0].victim_cgroup == \"/sq/p0\""
check bare-no-kernel-kill test "$vm_kills1" = "$vm_kills0"
if [ $p0_alive = 0 ] && [ $p5_alive = 1 ] && [ $p10_alive = 1 ]; then pass bare-only-p0-dead
else fail bare-only-p0-dead "alive right after the kill: p0=$p0_alive p5=$p5_alive p10=$p10_alive"; fi
ms=$(ms_between /tmp/w-bare.json $MSG_DETECTED $MSG_KILLED)
figure oomctl-without-stall-source "watch triggered at ${bare_woken:-?} MiB available, victim dead ${ms:-?} ms later; kernel OOM kills $vm_kills0 -> $vm_kills1 (in${bare_killed:- none}); watch killed ${bare_victim:-nothing}"

# Fresh cgroups (oom_kill counters at 0) for the kernel case.
for p in 0 5 10; do rmdir $CG/sq/p$p && mkcg /sq/p$p >/dev/null; done

# --- the same hogs without oomctl: the kernel OOM killer ---------------------------------------------------
sleep 1
vm_kills0=$(vm_oom_kills)
start_sampler /tmp/k-samples
start_hogs
if wait_for 60 sh -c "[ \$(awk '\$1 == \"oom_kill\" { print \$2 }' /proc/vmstat) -gt $vm_kills0 ]"; then
    pass kernel-oom-killed
else
    fail kernel-oom-killed "no kernel OOM kill within 60 s: $(tr '\n' ' ' </proc/meminfo | head -c 200)"
fi
sleep 0.3
killed=
for p in p0 p5 p10; do eval "alive \$HOG_$p" || killed="$killed /sq/$p"; done
kcounts=
for p in p0 p5 p10; do kcounts="$kcounts $p=$(memevent /sq/$p oom_kill)"; done
stop_hogs
stop_sampler
# MemAvailable in the last sample before the kill and the first one after it.
before=$(awk -v k=$vm_kills0 '$3 == k { m = $2 } END { print m + 0 }' /tmp/k-samples)
after=$(awk -v k=$vm_kills0 '$3 > k { print $2; exit }' /tmp/k-samples)
lowest=$(awk 'NR == 1 || $2 < m { m = $2 } END { print m + 0 }' /tmp/k-samples)
figure kernel-oom-killer "killed${killed:- nothing?} (memory.events oom_kill:$kcounts); MemAvailable last sample before $((before / 1024)) MiB, first after $(( ${after:-0} / 1024 )) MiB, lowest sampled $((lowest / 1024)) MiB"
dmesg | grep -E 'Out of memory|oom-kill:' | tail -n 2 | sed 's/^/vmtest: dmesg: /'
