# cgroup v2: watch acts on distress, not fullness (issue 12). Healthy page-cache workloads at their
# limit (the README's reserve example: memory.max 64M, a 16M reserve, so memory.high 48M, and
# `watch --kill largest`) are never touched; an anonymous hog is killed by oomctl before the kernel's
# OOM killer in at least 19 of 20 runs; in a mixed group the hog dies and the reader lives; shmem on a
# tmpfs without swap is unreclaimable.

MSG_DETECTED=f8bce7f8825149299c788ac8be78c796
MSG_KILLED=9c57b3fd88bb41d4a3f7ad5c1e8b8205

count_lines() { grep -c "\"messageID\":\"$2\"" "$1"; }
# not_in_distress FILE: the number of wake-ups that found no distress (watch -v debug lines).
not_in_distress() { grep -c 'nothing to do: not in distress' "$1"; }

need_pagecache || exit 0
kernel=$(uname -r)
big=$(make_file big 110) || { fail make-file "cannot write a 110 MiB file"; exit 0; }
mid=$(make_file mid 40) || { fail make-file "cannot write a 40 MiB file"; exit 0; }

# --- page cache at the limit: never touched ------------------------------------------------------------
# Shapes, each with the README's example (max 64M, reserve 16M → high 48M, watch --kill largest):
#   stream   one pass of a 110 MiB file (more than max);
#   reread   three passes of a 40 MiB file (between high and max: reclaim at high, refaults);
#   write    a 100 MiB file written (dirty pages and writeback) then removed;
#   pressure the stream again under --on pressure with the default trigger.
d=$(mkcg /pc/app) || { fail mkcg "cannot create /pc/app"; exit 0; }
echo 64M >"$d/memory.max"
oomctl reserve /pc/app 16M >/dev/null || fail reserve-set "oomctl reserve /pc/app 16M failed"
check reserve-sets-high grep -qx $((48 * 1048576)) "$d/memory.high"
runs=0
kills=0
spared=0
shape() { # NAME WATCH-ARGS... -- COMMAND...
    _name=$1; shift
    _args=
    while [ "$1" != -- ]; do _args="$_args $1"; shift; done
    shift
    start_watch /tmp/pc-$_name.json /pc/app -v --kill largest $_args
    _high0=$(memevent /pc/app high)
    spawn_in_cg /pc/app "$@"
    wait $SPAWNED
    _st=$?
    sleep 0.7   # a verdict's window and its settle time
    stop_watch pc-$_name-watch-stopped /tmp/pc-$_name.json
    runs=$((runs + 1))
    _k=$(count_lines /tmp/pc-$_name.json $MSG_KILLED)
    _s=$(not_in_distress /tmp/pc-$_name.json)
    kills=$((kills + _k))
    spared=$((spared + _s))
    if [ $_st = 0 ] && [ "$_k" = 0 ]; then pass pc-$_name-untouched
    else fail pc-$_name-untouched "exit status $_st, $_k kill(s): $(grep "$MSG_KILLED\|$MSG_DETECTED" /tmp/pc-$_name.json | tail -c 600)"; fi
    _most() { jq -s -r "[.[] | select(.$1 != null) | .$1 | tonumber] | max // 0" /tmp/pc-$_name.json 2>/dev/null; }
    figure pc-$_name "[$kernel] high events $(( $(memevent /pc/app high) - _high0 )), wake-ups not in distress $_s (at most $(_most unreclaimable_percent)% of the ceiling unreclaimable, full stall at most $(_most full_stall_percent)% of the window), handlings $(count_lines /tmp/pc-$_name.json $MSG_DETECTED), kills $_k"
}
shape stream -- dd if="$big" of=/dev/null bs=1M
shape reread -- sh -c 'for i in 1 2 3; do dd if="$1" of=/dev/null bs=1M 2>/dev/null || exit 1; done' sh "$mid"
shape write -- sh -c 'dd if=/dev/zero of="$1" bs=1M count=100 2>/dev/null && rm -f "$1"' sh "$PAGECACHE_DIR/written"
shape pressure --on pressure -- dd if="$big" of=/dev/null bs=1M
shape stream2 -- dd if="$big" of=/dev/null bs=1M
check_event pc-no-kernel-oom-kill /pc/app oom_kill -eq 0
if [ "$spared" -gt 0 ]; then pass pc-wake-ups-judged; else fail pc-wake-ups-judged "no wake-up was judged (no high or max event?)"; fi
figure pc-false-kills "[$kernel] $kills kill(s) in $runs page-cache runs; $spared wake-ups not in distress"

# reserved_app /x/app NAME: make /x/app with memory.max 64M, no swap and a 16M reserve (memory.high
# 48M). Fails (1) when the cgroup cannot be made; a reserve that cannot be set fails the check NAME-reserve.
reserved_app() {
    mkcg "$1" >/dev/null || { fail mkcg "cannot create $1"; return 1; }
    echo 64M >"$CG$1/memory.max"
    echo 0 >"$CG$1/memory.swap.max" 2>/dev/null
    oomctl reserve "$1" 16M >/dev/null || fail "$2-reserve" "oomctl reserve $1 16M failed"
    return 0
}

# --- an anonymous hog: killed by oomctl, not by the kernel, 20 runs ------------------------------------
reserved_app /anon/app anon || exit 0
h=$CG/anon/app
start_watch /tmp/anon.json /anon/app -v --kill largest
by_oomctl=0
by_kernel=0
other=0
i=0
while [ $i -lt 20 ]; do
    i=$((i + 1))
    k0=$(memevent /anon/app oom_kill)
    n0=$(count_lines /tmp/anon.json $MSG_KILLED)
    spawn_in_cg /anon/app oomctl hog 100M --hold 0s
    wait $SPAWNED
    st=$?
    wait_for 5 sh -c '[ "$(grep -c "\"messageID\":\"'$MSG_KILLED'\"" /tmp/anon.json)" -gt '"$n0"' ]'
    if [ "$(memevent /anon/app oom_kill)" != "$k0" ]; then by_kernel=$((by_kernel + 1))
    elif [ $st = 137 ] && [ "$(count_lines /tmp/anon.json $MSG_KILLED)" -gt "$n0" ]; then by_oomctl=$((by_oomctl + 1))
    else other=$((other + 1)); echo "vmtest: anon run $i: exit status $st"; fi
    sleep 0.3
done
stop_watch anon-watch-stopped /tmp/anon.json
if [ $by_oomctl -ge 19 ]; then pass anon-killed-by-oomctl-19-of-20
else fail anon-killed-by-oomctl-19-of-20 "oomctl $by_oomctl, kernel $by_kernel, other $other of 20: $(grep "$MSG_DETECTED" /tmp/anon.json | head -n 2 | tail -c 600)"; fi
jq_first() { jq -s -r "$1" /tmp/anon.json 2>/dev/null; }
reasons=$(jq_first "[.[] | select(.messageID == \"$MSG_DETECTED\") | .distress_reasons] | first")
case $reasons in *unreclaimable-at-ceiling*) pass anon-verdict-unreclaimable ;; *) fail anon-verdict-unreclaimable "reasons: $reasons" ;; esac
figure anon-kills "[$kernel] 20 anonymous hogs (100M into max 64M, high 48M): $by_oomctl killed by oomctl, $by_kernel by the kernel, $other other"
figure anon-verdict "[$kernel] $(jq_first "[.[] | select(.messageID == \"$MSG_DETECTED\") | .distress] | first")"

# --- mixed: a page-cache reader beside an anonymous hog, each in a child --------------------------------
m=$(mkcg /mix/reader) || { fail mkcg "cannot create /mix/reader"; exit 0; }
mkcg /mix/hog >/dev/null || { fail mkcg "cannot create /mix/hog"; exit 0; }
echo 64M >"$CG/mix/memory.max"
echo 0 >"$CG/mix/memory.swap.max" 2>/dev/null
oomctl reserve /mix 16M >/dev/null || fail mix-reserve "oomctl reserve /mix 16M failed"
start_watch /tmp/mix.json /mix -v --kill largest
spawn_reader /mix/reader "$big" 3
reader=$SPAWNED
sleep 1
spawn_in_cg /mix/hog oomctl hog 100M --rate 20M --hold 0s
hog=$SPAWNED
wait $hog
hog_st=$?
wait $reader
reader_st=$?
sleep 0.7
stop_watch mix-watch-stopped /tmp/mix.json
if [ $hog_st = 137 ]; then pass mix-hog-killed; else fail mix-hog-killed "hog exit status $hog_st"; fi
if [ $reader_st = 0 ]; then pass mix-reader-lives; else fail mix-reader-lives "reader exit status $reader_st"; fi
jq_victims=$(jq -s -r "[.[] | select(.messageID == \"$MSG_KILLED\") | .victim_cgroup // .victim_pid] | join(\" \")" /tmp/mix.json 2>/dev/null)
case " $jq_victims " in *" /mix/reader "*) fail mix-victim-is-the-hog "victims: $jq_victims" ;; *) pass mix-victim-is-the-hog ;; esac
check_event mix-no-kernel-oom-kill /mix oom_kill -eq 0
figure mix "[$kernel] victims: $jq_victims; reader exit $reader_st, hog exit $hog_st"

# --- shmem on a tmpfs without swap: unreclaimable ---------------------------------------------------------
s=$(mkcg /shm/app) || { fail mkcg "cannot create /shm/app"; exit 0; }
echo 64M >"$s/memory.max"
echo 48M >"$s/memory.high"
mkdir -p /tmp/shm && mount -t tmpfs -o size=80M tmpfs /tmp/shm || fail shm-mount "cannot mount a tmpfs"
start_watch /tmp/shm.json /shm/app -v --kill largest --dry-run
# 47M of shmem: below high (no wake-up from it), then 3M more of anon pushes the group over high.
run_in_cg /shm/app dd if=/dev/zero of=/tmp/shm/f bs=1M count=47 2>/dev/null
spawn_in_cg /shm/app oomctl hog 3M --hold 3s
wait_for 10 has_line /tmp/shm.json $MSG_DETECTED
kill $SPAWNED 2>/dev/null
stop_watch shm-watch-stopped /tmp/shm.json
reasons=$(jq -s -r "[.[] | select(.messageID == \"$MSG_DETECTED\") | .distress_reasons] | first" /tmp/shm.json 2>/dev/null)
case $reasons in *unreclaimable-at-ceiling*) pass shm-is-unreclaimable ;;
    *) fail shm-is-unreclaimable "reasons '$reasons'; memory.stat shmem $(memstat /shm/app shmem); $(tail -c 400 /tmp/shm.json)" ;; esac
figure shm "[$kernel] $(jq -s -r "[.[] | select(.messageID == \"$MSG_DETECTED\") | .distress] | first" /tmp/shm.json 2>/dev/null)"
rm -f /tmp/shm/f
umount /tmp/shm

# --- --hold freeze: the hog is held frozen while a slow hook runs; the kernel does not kill meanwhile --
reserved_app /frz/app frz || exit 0
z=$CG/frz/app
rm -f /tmp/frz.hook
start_watch /tmp/frz.json /frz/app -v --kill largest --hold freeze --delay 10s --hook-timeout 10s \
    --hook 'grep frozen "$OOMCTL_CGROUP_PATH/cgroup.events" >/tmp/frz.hook; echo "$OOMCTL_HOLD" >>/tmp/frz.hook; sleep 2; grep ^oom_kill "$OOMCTL_CGROUP_PATH/memory.events" >>/tmp/frz.hook; exit 1'
spawn_in_cg /frz/app oomctl hog 100M --hold 0s
wait $SPAWNED
st=$?
sleep 0.7
stop_watch frz-watch-stopped /tmp/frz.json
check frz-frozen-during-the-hook grep -qx 'frozen 1' /tmp/frz.hook
check frz-hook-told grep -qx freeze /tmp/frz.hook
check frz-no-kernel-kill-while-held grep -qx 'oom_kill 0' /tmp/frz.hook
if [ $st = 137 ]; then pass frz-killed-by-oomctl; else fail frz-killed-by-oomctl "hog exit status $st"; fi
check_event frz-no-kernel-oom-kill /frz/app oom_kill -eq 0
check frz-thawed grep -qx 0 "$z/cgroup.freeze"
check frz-high-back grep -qx $((48 * 1048576)) "$z/memory.high"

# --- the v2 grant: a burst that fits the reserve finishes (memory.high lifted to memory.max meanwhile) -
reserved_app /burst/app burst || exit 0
b=$CG/burst/app
rm -f /tmp/burst.hook
start_watch /tmp/burst.json /burst/app -v --kill largest \
    --hook 'echo "$OOMCTL_RESERVE $(cat "$OOMCTL_CGROUP_PATH/memory.high")" >/tmp/burst.hook; sleep 2; exit 1'
spawn_in_cg /burst/app oomctl hog 56M --hold 0s
wait $SPAWNED
st=$?
sleep 1
stop_watch burst-watch-stopped /tmp/burst.json
if [ $st = 0 ]; then pass burst-finished; else fail burst-finished "hog exit status $st: $(tail -c 500 /tmp/burst.json)"; fi
check burst-hook-saw-the-grant grep -qx "16777216 67108864" /tmp/burst.hook
check burst-high-back grep -qx $((48 * 1048576)) "$b/memory.high"
check_event burst-no-oom-kill /burst/app oom_kill -eq 0
if [ "$(count_lines /tmp/burst.json $MSG_KILLED)" = 0 ]; then pass burst-nothing-killed
else fail burst-nothing-killed "$(grep $MSG_KILLED /tmp/burst.json | head -c 300)"; fi

# --- a graceful kill: TERM first; SIGKILL after the grace only while the distress lasts -----------------
reserved_app /grace/app grace || exit 0
g=$CG/grace/app
start_watch /tmp/grace.json /grace/app -v --kill largest --signal TERM --grace 1s
spawn_in_cg /grace/app oomctl hog 100M --hold 0s
wait $SPAWNED
st=$?
if [ $st = 143 ]; then pass grace-term-first; else fail grace-term-first "hog exit status $st, not 143 (TERM)"; fi
sleep 0.7
spawn_in_cg /grace/app sh -c 'trap "" TERM; exec oomctl hog 100M --hold 0s'
wait $SPAWNED
st=$?
if [ $st = 137 ]; then pass grace-kill-after-the-grace; else fail grace-kill-after-the-grace "exit status $st, not 137"; fi
sleep 0.7
stop_watch grace-watch-stopped /tmp/grace.json
check_event grace-no-kernel-oom-kill /grace/app oom_kill -eq 0
