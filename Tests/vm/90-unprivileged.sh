# Unprivileged oomctl on a delegated cgroup v2 subtree (issue 16). The test delegates /u1000 to uid 1000
# the way systemd does for user@1000.service (Delegate=yes): the directory and its cgroup.procs,
# cgroup.threads and cgroup.subtree_control are chowned; the user's login shell starts in
# /u1000/session. Everything below runs oomctl as that user (busybox su): watch kills an anonymous hog
# in a child before the kernel does, leaves a page-cache reader alone, runs its hook as the user, holds
# with --hold freeze and thaws; snapshot, reserve and simulate work inside the subtree; and every
# attempt outside it is refused with 77 and changes nothing.

MSG_DETECTED=f8bce7f8825149299c788ac8be78c796
MSG_KILLED=9c57b3fd88bb41d4a3f7ad5c1e8b8205
USER_NAME=oomuser
USER_ID=1000
U=/u1000
UD=$CG$U
UHOME=/run/oomuser
kernel=$(uname -r)

count_lines() { grep -c "\"messageID\":\"$2\"" "$1"; }

# as_user CMD...: run CMD as the user, in the user's session cgroup (root puts the su there first,
# as a login would).
# (busybox su takes options after the user too: `--` ends them, then USER, then the shell's ARG0 ARGS.)
as_user() { run_in_cg $U/session su -s /bin/sh -c 'exec "$@"' -- $USER_NAME sh "$@"; }
# user_spawn /cg CMD...: start CMD in the background as the user; the user's own process moves itself
# from the session into /cg (allowed: the common ancestor /u1000 is theirs). SPAWNED = CMD's PID.
user_spawn() {
    _to=$CG$1; shift
    spawn_in_cg $U/session su -s /bin/sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' -- $USER_NAME sh "$_to" "$@"
}
# user_watch OUT ARGS...: `oomctl watch ARGS --json` as the user in the background, WATCH = its PID.
user_watch() {
    _out=$1; shift
    spawn_in_cg $U/session su -s /bin/sh -c 'o=$1; shift; exec oomctl watch "$@" --json >"$o" 2>"$o.err"' -- $USER_NAME sh "$_out" "$@"
    WATCH=$SPAWNED
    wait_for 30 has_line "$_out" $MSG_STARTED || fail watch-started "$*: $(head -c 300 "$_out.err") $(head -c 300 "$_out")"
}
# refused CHECK EXPECTED-STATUS WORDS... -- CMD...: CMD as the user exits EXPECTED-STATUS and its
# message holds every WORD.
refused() {
    _c=$1; _want=$2; shift 2
    _words=
    while [ "$1" != -- ]; do _words="$_words $1"; shift; done
    shift
    _msg=$(as_user "$@" 2>&1)
    _st=$?
    if [ "$_st" != "$_want" ]; then fail "$_c" "exit status $_st, want $_want: $(echo "$_msg" | tail -c 400)"; return; fi
    for _w in $_words; do
        case $_msg in *"$_w"*) ;; *) fail "$_c" "no '$_w' in: $(echo "$_msg" | tail -c 400)"; return ;; esac
    done
    pass "$_c"
    echo "vmtest: $_c: $(echo "$_msg" | tail -n 1)"
}

# --- the delegation, as systemd makes it -----------------------------------------------------------
mkcg $U >/dev/null || { fail mkcg "cannot create $U"; exit 0; }
echo 400M >"$UD/memory.max"     # the admin's limit for the whole user (root's file, not delegated)
chown $USER_ID:$USER_ID "$UD" "$UD/cgroup.procs" "$UD/cgroup.threads" "$UD/cgroup.subtree_control" \
    || { fail delegate "chown of $UD failed"; exit 0; }
mkdir -p $UHOME && chown $USER_ID:$USER_ID $UHOME
# The user makes the rest: its session, the memory and pids controllers for its children.
su -s /bin/sh -c "mkdir $UD/session && echo '+memory +pids' >$UD/cgroup.subtree_control" -- $USER_NAME \
    || { fail user-setup "the user cannot make $UD/session or enable +memory"; exit 0; }
uid=$(as_user id -u)
if [ "$uid" = $USER_ID ]; then pass user-is-unprivileged; else fail user-is-unprivileged "id -u as the user: $uid"; fi
own=$(as_user cat /proc/self/cgroup)
if [ "$own" = "0::$U/session" ]; then pass session-is-the-users; else fail session-is-the-users "/proc/self/cgroup: $own"; fi

# A cgroup outside the delegation, with a process of root's in it, for the refusals.
o=$(mkcg /outside) || { fail mkcg "cannot create /outside"; exit 0; }
echo 64M >"$o/memory.max"
spawn_in_cg /outside sleep 600
root_sleeper=$SPAWNED

# --- snapshot and reserve inside the subtree -------------------------------------------------------
as_user sh -c "mkdir $UD/app && echo 64M >$UD/app/memory.max ; echo 0 >$UD/app/memory.swap.max 2>/dev/null"
check user-snapshot as_user oomctl snapshot $U
out=$(as_user oomctl reserve $U/app 16M 2>&1)
st=$?
if [ $st = 0 ]; then pass user-reserve; else fail user-reserve "exit $st: $out"; fi
echo "vmtest: reserve as the user: $(echo "$out" | tr '\n' '|')"
check user-reserve-sets-high grep -qx $((48 * 1048576)) "$UD/app/memory.high"

# --- watch as the user: anonymous hogs killed by oomctl before the kernel, hook as the user -------
# (No hook here: a hook runs while the reserve is granted, memory.high lifted to memory.max, and a hog
# as fast as these can race it to the limit; the hook's uid is checked under --hold freeze below.)
user_watch $UHOME/w.json $U --recursive --kill largest -v
head -n 3 $UHOME/w.json.err | sed 's/^/vmtest: watch stderr: /'
jq -r 'select(.messageID == "'$MSG_STARTED'") | .message' $UHOME/w.json 2>/dev/null | sed 's/^/vmtest: watch: /'
by_oomctl=0
by_kernel=0
other=0
runs=10
i=0
while [ $i -lt $runs ]; do
    i=$((i + 1))
    k0=$(memevent $U/app oom_kill)
    n0=$(count_lines $UHOME/w.json $MSG_KILLED)
    user_spawn $U/app oomctl hog 100M --hold 0s
    wait $SPAWNED
    st=$?
    wait_for 5 sh -c '[ "$(grep -c "\"messageID\":\"'$MSG_KILLED'\"" '$UHOME'/w.json)" -gt '"$n0"' ]'
    if [ "$(memevent $U/app oom_kill)" != "$k0" ]; then by_kernel=$((by_kernel + 1))
    elif [ $st = 137 ] && [ "$(count_lines $UHOME/w.json $MSG_KILLED)" -gt "$n0" ]; then by_oomctl=$((by_oomctl + 1))
    else other=$((other + 1)); echo "vmtest: user hog run $i: exit status $st"; fi
    sleep 0.3
done
figure user-anon-kills "[$kernel] $runs anonymous hogs (100M into max 64M, high 48M) as uid $USER_ID: $by_oomctl killed by the user's watch, $by_kernel by the kernel, $other other"
# The same bar as root's watch in 65-distress (19 of 20): at most one run in ten lost to the kernel.
if [ $by_oomctl -ge $((runs - 1)) ]; then pass user-hogs-killed-by-oomctl-9-of-10
else fail user-hogs-killed-by-oomctl-9-of-10 "oomctl $by_oomctl, kernel $by_kernel, other $other of $runs: $(tail -c 600 $UHOME/w.json) $(tail -c 300 $UHOME/w.json.err)"; fi

# A page-cache reader in another child of the same watch: never touched.
if need_pagecache; then
    big=$(make_file big 110) && chmod 0644 "$big"
    as_user sh -c "mkdir $UD/reader && echo 64M >$UD/reader/memory.max"
    as_user oomctl reserve $U/reader 16M >/dev/null || fail user-reader-reserve "reserve $U/reader failed"
    n0=$(count_lines $UHOME/w.json $MSG_KILLED)
    user_spawn $U/reader dd if="$big" of=/dev/null bs=1M
    wait $SPAWNED
    st=$?
    sleep 0.7
    if [ $st = 0 ] && [ "$(count_lines $UHOME/w.json $MSG_KILLED)" = "$n0" ]; then pass user-reader-untouched
    else fail user-reader-untouched "reader exit $st, kills $(count_lines $UHOME/w.json $MSG_KILLED) (were $n0)"; fi
    check_event user-reader-no-kernel-kill $U/reader oom_kill -eq 0
fi
# What the user's watch locked, measured (VmLck) against what it said at start. The release binary's
# handling code (between its hot-code markers) fits the usual 8 MiB RLIMIT_MEMLOCK: it is locked,
# and said so; "not locked" would mean nothing is. Whatever is locked fits the limit.
locked=$(awk '/^VmLck:/ {print $2}' /proc/$WATCH/status)
limit=$(as_user sh -c 'ulimit -l')
figure user-watch-locked "[$kernel] VmLck $locked kB (RLIMIT_MEMLOCK $limit kB), VmRSS $(awk '/^VmRSS:/ {print $2}' /proc/$WATCH/status) kB"
if grep -q 'locked only its handling code' $UHOME/w.json && [ -n "$locked" ] && [ "$locked" -gt 0 ] \
    && { [ "$limit" = unlimited ] || [ "$locked" -le "$limit" ]; }; then
    pass user-watch-locked-as-said
else fail user-watch-locked-as-said "VmLck '$locked' kB, limit $limit kB: $(grep -o '[a-z ]*locked[^"]*' $UHOME/w.json | head -n 2)"; fi
kill -TERM $WATCH
wait $WATCH
st=$?
if [ $st = 0 ] && has_line $UHOME/w.json $MSG_STOPPED; then pass user-watch-stopped
else fail user-watch-stopped "watch exit status $st: $(tail -c 300 $UHOME/w.json.err)"; fi
check user-high-back grep -qx $((48 * 1048576)) "$UD/app/memory.high"
# What an unprivileged watch cannot get is said once, at start, never per event (the $runs handlings above).
lines_with() { grep -c "$2" "$1"; }
n=$(lines_with $UHOME/w.json 'may be slow to act under pressure')
if [ "$n" = 1 ]; then pass user-watch-says-what-is-not-locked-once; else fail user-watch-says-what-is-not-locked-once "$n lines: $(head -c 600 $UHOME/w.json)"; fi
# Watch's own line and its guardian's ("the guardian's oom_score_adj not lowered"), once each.
n=$(grep -v "the guardian's" $UHOME/w.json | grep -c 'oom_score_adj not lowered')
if [ "$n" = 1 ]; then pass user-watch-says-score-once; else fail user-watch-says-score-once "$n lines"; fi
n=$(lines_with $UHOME/w.json "the guardian's oom_score_adj not lowered")
if [ "$n" = 1 ]; then pass user-watch-says-guardian-score-once; else fail user-watch-says-guardian-score-once "$n lines"; fi
figure user-watch-start-warnings "[$kernel] $(grep -e 'not locked' -e 'oom_score_adj' $UHOME/w.json | jq -r .message 2>/dev/null | tr '\n' '|' | cut -c1-600)"

# On the delegation point itself, its memory.pressure and cgroup.freeze are root's: watch says so once
# and goes on (triggers and holds on the children, which are the user's). PSI windows: Linux 6.5 and
# later accept only multiples of 2 s from an unprivileged writer (psi.rst); watch arms the nearest.
# The administrator's reserve on the delegation point: the user's watch cannot take back a grant of
# it (memory.high is root's), so it does not grant it, and says so. (Root records it in trusted.*,
# which the user cannot read; where only user.* attributes are there, as in a container, the user
# sees it: copied there to make that case.)
oomctl reserve $U 16M >/dev/null || fail point-admin-reserve "root's oomctl reserve $U 16M failed"
setfattr -n user.oomctl.reserve -v "$(getfattr --only-values -n trusted.oomctl.reserve "$UD")" "$UD" \
    || fail point-admin-reserve "cannot copy the record to user.oomctl.reserve"
user_watch $UHOME/p.json $U --recursive --on pressure --hold freeze --kill largest
sleep 1
kill -TERM $WATCH
wait $WATCH
st=$?
if [ $st = 0 ]; then pass point-watch-runs; else fail point-watch-runs "exit $st: $(tail -c 400 $UHOME/p.json.err)"; fi
n=$(lines_with $UHOME/p.json "no PSI trigger on $U:")
if [ "$n" = 1 ]; then pass point-watch-says-no-psi-there; else fail point-watch-says-no-psi-there "$n lines: $(head -c 800 $UHOME/p.json)"; fi
n=$(lines_with $UHOME/p.json "will not hold $U (")
if [ "$n" = 1 ]; then pass point-watch-says-no-hold-there; else fail point-watch-says-no-hold-there "$n lines"; fi
n=$(lines_with $UHOME/p.json "the reserve of $U is not granted by this watch")
if [ "$n" = 1 ]; then pass point-watch-says-no-grant-there; else fail point-watch-says-no-grant-there "$n lines"; fi
oomctl reserve $U --clear >/dev/null || fail point-admin-reserve-clear "root's oomctl reserve $U --clear failed"
setfattr -x user.oomctl.reserve "$UD" 2>/dev/null
# Whether the kernel rounds depends on the kernel, not only its version (Debian's 6.1 does), so the
# kernel is asked first: the user writes watch's default trigger (some 150ms 1s) to a child's
# memory.pressure. Refused: watch must have armed a multiple of 2 s and said so once; taken: watch
# armed it as asked and said nothing.
if as_user sh -c "printf 'some 150000 1000000' >$UD/app/memory.pressure" 2>/dev/null; then rounds=0; else rounds=1; fi
n=$(lines_with $UHOME/p.json 'multiples of 2s')
if { [ $rounds = 0 ] && [ "$n" = 0 ]; } \
    || { [ $rounds = 1 ] && [ "$n" = 1 ] && grep 'multiples of 2s' $UHOME/p.json | grep -q 'armed some [0-9.]*m*s [0-9]*[02468]s instead'; }; then
    pass psi-window-rounding-said-when-the-kernel-rounds
else fail psi-window-rounding-said-when-the-kernel-rounds "kernel refuses 1s windows: $rounds; $n lines: $(grep 'multiples' $UHOME/p.json | head -c 300)"; fi
figure psi-window "[$kernel] $(grep -o 'armed [^"]*' $UHOME/p.json | head -n 1 || echo 'asked trigger armed as is')"
figure point-watch "[$kernel] $(jq -r 'select(.level == "warning") | .message' $UHOME/p.json 2>/dev/null | cut -c1-200 | sort -u | tr '\n' '|' | cut -c1-900)"

# The same watch as a person sees it in a terminal, with one hog (not a check: the lines for the README).
spawn_in_cg $U/session su -s /bin/sh -c 'exec timeout -s INT 8 oomctl watch "$@" >"$0" 2>&1' -- $USER_NAME \
    $UHOME/human.txt $U --recursive --kill largest
human=$SPAWNED
sleep 3
user_spawn $U/app oomctl hog 100M --hold 0s
wait $SPAWNED
wait $human
sed 's/^/vmtest: human: /' $UHOME/human.txt

# --- --hold freeze as the user: held during the hook, thawed for the kill --------------------------
as_user sh -c "mkdir $UD/frz && echo 64M >$UD/frz/memory.max ; echo 0 >$UD/frz/memory.swap.max 2>/dev/null"
as_user oomctl reserve $U/frz 16M >/dev/null || fail user-frz-reserve "reserve $U/frz failed"
rm -f $UHOME/frz.hook $UHOME/frz.uid
user_watch $UHOME/frz.json $U/frz -v --kill largest --hold freeze --delay 10s --hook-timeout 10s \
    --hook "grep frozen \"\$OOMCTL_CGROUP_PATH/cgroup.events\" >$UHOME/frz.hook; echo \"\$OOMCTL_HOLD\" >>$UHOME/frz.hook; id -u >$UHOME/frz.uid; sleep 2; exit 1"
user_spawn $U/frz oomctl hog 100M --hold 0s
wait $SPAWNED
st=$?
sleep 0.7
kill -TERM $WATCH
wait $WATCH
check user-frz-frozen-during-the-hook grep -qx 'frozen 1' $UHOME/frz.hook
check user-frz-hook-told grep -qx freeze $UHOME/frz.hook
check user-hook-ran-as-the-user grep -qx $USER_ID $UHOME/frz.uid
if [ $st = 137 ]; then pass user-frz-killed-by-oomctl; else fail user-frz-killed-by-oomctl "hog exit status $st: $(tail -c 400 $UHOME/frz.json)"; fi
check_event user-frz-no-kernel-kill $U/frz oom_kill -eq 0
check user-frz-thawed grep -qx 0 "$UD/frz/cgroup.freeze"

# The guardian thaws when the user's watch is SIGKILLed while holding.
rm -f $UHOME/g.hook
user_watch $UHOME/g.json $U/frz -v --kill largest --hold freeze --delay 20s --hook-timeout 20s \
    --hook "echo held >$UHOME/g.hook; sleep 15; exit 1"
user_spawn $U/frz oomctl hog 100M --hold 0s
hog=$SPAWNED
# hook_gone: the hook's `sleep 15` runs no more (command lines from /proc, NULs as spaces).
hook_gone() { ! { for _p in /proc/[0-9]*; do tr '\0' ' ' <$_p/cmdline 2>/dev/null; echo; done | grep -q '^sleep 15 $'; }; }
if wait_for 20 grep -q held $UHOME/g.hook && grep -qx 1 "$UD/frz/cgroup.freeze"; then
    high_granted=$(cat "$UD/frz/memory.high")
    kill -KILL $WATCH
    if wait_for 5 grep -qx 0 "$UD/frz/cgroup.freeze"; then pass user-guardian-thaws
    else fail user-guardian-thaws "cgroup.freeze still $(cat "$UD/frz/cgroup.freeze") after watch was killed"; fi
    # The reserve grant (memory.high lifted to memory.max) is given back by the unprivileged guardian
    # too, and the hook's process group does not outlive watch.
    if [ "$high_granted" = $((64 * 1048576)) ] && wait_for 10 grep -qx $((48 * 1048576)) "$UD/frz/memory.high"
    then pass user-guardian-restores-high
    else fail user-guardian-restores-high "memory.high $high_granted while held, $(cat "$UD/frz/memory.high") after watch was killed"; fi
    if wait_for 5 hook_gone; then pass user-guardian-ends-the-hook
    else fail user-guardian-ends-the-hook "the hook's sleep 15 still runs after watch was killed"; fi
else
    fail user-guardian-thaws "never held: $(tail -c 400 $UHOME/g.json) $(tail -c 300 $UHOME/g.json.err)"
    kill -KILL $WATCH
fi
kill -KILL $hog 2>/dev/null
wait $hog 2>/dev/null

# --- simulate inside the subtree ------------------------------------------------------------------
# --reserve 32M --hog-rate 16M and --kill triggering as in 80-simulate: a hog at full TCG speed, or a policy scan on a
# loaded host (0.5 s seen), lets the hog outrun the grant to memory.max: the same race as root's, and
# not what this test is about.
out=$(as_user oomctl simulate --parent $U --reserve 32M --hog-rate 16M --kill triggering 2>&1)
st=$?
if [ $st = 0 ] && echo "$out" | grep -q 'created  *'"$UD"'/oomctl-simulate-' && echo "$out" | grep -q 'hogs: 1 killed by oomctl'
then pass user-simulate
else fail user-simulate "exit $st: $(echo "$out" | tail -c 500)"; fi
echo "$out" | sed 's/^/vmtest: simulate: /'
check user-simulate-cleaned-up sh -c "! ls -d $UD/oomctl-simulate-* 2>/dev/null | grep -q ."

# --- oomctl kill as the user, inside the subtree: the victim dies, the cgroup stays ------------------
as_user sh -c "mkdir $UD/victim"
user_spawn $U/victim sleep 600
victim=$SPAWNED
wait_for 5 grep -q . $UD/victim/cgroup.procs
out=$(as_user oomctl kill $U/victim --json 2>&1)
st=$?
if [ $st = 0 ] && wait_for 5 dead $victim; then pass user-kill-inside
else fail user-kill-inside "exit $st, victim $(alive $victim && echo alive || echo dead): $(echo "$out" | tail -c 300)"; fi
check user-kill-left-the-cgroup test -d $UD/victim
wait $victim 2>/dev/null

# --- outside the delegation: refused with 77, nothing changed ----------------------------------------

high0=$(cat "$o/memory.high")
refused outside-reserve-refused 77 /outside root $U -- oomctl reserve /outside 16M
check outside-reserve-unchanged grep -qx "$high0" "$o/memory.high"
check outside-reserve-no-record sh -c "! getfattr -d -m . $o 2>/dev/null | grep -q oomctl && ! ls /run/oomctl/reserves 2>/dev/null | grep -q ."
# The delegation point itself: its directory is the user's, but its memory files are root's.
refused point-reserve-refused 77 $U root -- oomctl reserve $U 16M
check point-reserve-unchanged grep -qx max "$UD/memory.high"
check point-reserve-no-record sh -c "! getfattr -d -m . $UD 2>/dev/null | grep -q oomctl"
refused outside-kill-refused 77 /outside root $U -- oomctl kill /outside
check outside-kill-spared kill -0 $root_sleeper
refused outside-process-refused 77 "$root_sleeper" root -- oomctl kill --pid $root_sleeper
check outside-process-spared kill -0 $root_sleeper
outside_before="$(cat $o/memory.high $o/memory.oom.group $o/cgroup.freeze $o/cgroup.subtree_control; getfattr -d -m . $o 2>/dev/null)"
refused outside-watch-refused 77 /outside root $U -- oomctl watch /outside --kill largest
check outside-watch-unchanged sh -c '[ "$(cat $1/memory.high $1/memory.oom.group $1/cgroup.freeze $1/cgroup.subtree_control; getfattr -d -m . $1 2>/dev/null)" = "$2" ]' sh $o "$outside_before"
refused outside-simulate-refused 77 /outside root $U -- oomctl simulate --parent /outside --kill largest
check outside-simulate-made-nothing sh -c "! ls -d $o/oomctl-simulate-* 2>/dev/null | grep -q ."
check outside-still-max grep -qx 67108864 "$o/memory.max"
# A child whose parent does not delegate the memory controller: 69, saying what to enable (the
# refusal is issue 14's; the user's subtree is where a user meets it).
as_user sh -c "mkdir -p $UD/nomem/child"
refused nomem-parent-refused 69 memory cgroup.subtree_control -- oomctl reserve $U/nomem/child 16M
refused nomem-watch-refused 69 memory cgroup.subtree_control -- oomctl watch $U/nomem/child --kill largest
refused nomem-simulate-refused 69 memory -- oomctl simulate --parent $U/nomem --kill largest
check nomem-simulate-made-nothing sh -c "! ls -d $UD/nomem/oomctl-simulate-* 2>/dev/null | grep -q ."
check nomem-no-record sh -c "! getfattr -d -m . $UD/nomem/child 2>/dev/null | grep -q oomctl"
kill $root_sleeper 2>/dev/null
