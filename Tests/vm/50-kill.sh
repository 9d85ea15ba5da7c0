# oomctl kill on cgroup v2: the cgroup.kill path on a group with a forking process (nothing escapes,
# the group is left empty), `--under --policy largest` picking a leaf, then a memory.oom.group=1 child
# picked and killed as a whole unit while its siblings survive, --dry-run killing nothing, and
# `simulate --from` a snapshot choosing what `kill --dry-run --json` chose.

# --- oomctl kill CGROUP: cgroup.kill, a forking process cannot escape ------------------------------
mkcg /kill/grp/fork >/dev/null && mkcg /kill/grp/idle >/dev/null || { fail mkcg "cannot create /kill/grp"; exit 0; }
# pids.max only as a safety net: busybox sh exits when a fork fails.
echo 200 >$CG/kill/grp/fork/pids.max
# The forker starts a new short-lived background sleep every few milliseconds, so the group's process
# list keeps changing while oomctl kills it.
spawn_in_cg /kill/grp/fork sh -c 'while :; do sleep 1 & sleep 0.02; done'
forker=$SPAWNED
spawn_in_cg /kill/grp/idle sleep 100000
idle=$SPAWNED
wait_for 20 sh -c "[ \$(wc -l <$CG/kill/grp/fork/cgroup.procs) -ge 10 ]" \
    || fail setup-forker "the forker did not fork: $(wc -l <$CG/kill/grp/fork/cgroup.procs) processes"
oomctl kill /kill/grp --json >/tmp/kill.json 2>/tmp/kill.err
status=$?
if [ $status = 0 ]; then pass kill-exit-0; else fail kill-exit-0 "status $status: $(head -c 300 /tmp/kill.err)"; fi
jq_file kill-method-cgroup-kill /tmp/kill.json '.report.method == "cgroup.kill"'
jq_file kill-report-cgroup /tmp/kill.json '.report.cgroup == "/kill/grp" and .dryRun == false'
# cgroup.kill is written before anything is listed: the report lists what was seen dying after it.
jq_file kill-signalled-only-victims /tmp/kill.json ".report.signalledPIDs | all(. != $$)"
check kill-idle-dead dead $idle
jq_file kill-no-survivors /tmp/kill.json '.report.survivors == []'
check kill-group-empty wait_for 5 sh -c "! grep -q . $CG/kill/grp/fork/cgroup.procs && ! grep -q . $CG/kill/grp/idle/cgroup.procs"
check kill-populated-0 wait_for 5 grep -qx 'populated 0' $CG/kill/grp/cgroup.events
check kill-forker-dead dead $forker
# Nothing forked its way back in after the kill.
sleep 1
check kill-still-empty sh -c "! grep -q . $CG/kill/grp/fork/cgroup.procs && grep -qx 'populated 0' $CG/kill/grp/cgroup.events"
# The group is usable again.
check kill-group-reusable run_in_cg /kill/grp/idle true

# --- kill --under --policy largest, and a memory.oom.group=1 unit -----------------------------------
# /pol/big 20M, /pol/small 4M, and /pol/unit/{x,y} 14M each: x and y are each smaller than big, the
# unit as a whole is larger.
for g in big small unit/x unit/y; do mkcg /pol/$g >/dev/null || { fail mkcg "cannot create /pol/$g"; exit 0; }; done
start_hog() { # name cgroup size
    spawn_in_cg "$2" oomctl hog "$3" >/tmp/hog-$1.out 2>&1
    eval "hog_$1=$SPAWNED"
}
start_hog big /pol/big 20M
start_hog small /pol/small 4M
start_hog x /pol/unit/x 14M
start_hog y /pol/unit/y 14M
for h in big small x y; do
    wait_for 30 grep -q holding /tmp/hog-$h.out || fail setup-hog-$h "hog $h not holding: $(cat /tmp/hog-$h.out)"
done
check oom-group-0 grep -qx 0 $CG/pol/unit/memory.oom.group

# Without the unit: the largest leaf, /pol/big.
oomctl kill --under /pol --policy largest --dry-run --json >/tmp/dry0.json 2>/tmp/dry.err
status=$?
if [ $status = 0 ]; then pass dry-leaf-exit-0; else fail dry-leaf-exit-0 "status $status: $(head -c 300 /tmp/dry.err)"; fi
jq_file dry-leaf-victim-big /tmp/dry0.json '.dryRun == true and .report == null and .decision.victim.target == {"kind": "cgroup", "cgroup": "/pol/big"}'
jq_file dry-leaf-ranks-x-y /tmp/dry0.json '[.decision.ranked[].target.cgroup] | index("/pol/unit/x") != null and index("/pol/unit/y") != null and index("/pol/unit") == null'

# With memory.oom.group=1 on /pol/unit: the unit, ranked with its whole usage.
echo 1 >$CG/pol/unit/memory.oom.group
check oom-group-1 grep -qx 1 $CG/pol/unit/memory.oom.group
oomctl kill --under /pol --policy largest --dry-run --json >/tmp/dry1.json 2>/tmp/dry.err
status=$?
if [ $status = 0 ]; then pass dry-unit-exit-0; else fail dry-unit-exit-0 "status $status: $(head -c 300 /tmp/dry.err)"; fi
jq_file dry-unit-victim /tmp/dry1.json '.decision.victim.target == {"kind": "cgroup", "cgroup": "/pol/unit"}'
jq_file dry-unit-reason /tmp/dry1.json '.decision.victim.reasons | any(test("memory.oom.group=1"))'
jq_file dry-unit-no-members /tmp/dry1.json '[.decision.ranked[].target.cgroup] | index("/pol/unit/x") == null and index("/pol/unit/y") == null'
# Human dry run of a named cgroup: says so, and nothing was killed by any dry run.
oomctl kill /pol/small --dry-run >/tmp/dry.txt 2>/tmp/dry.err
status=$?
if [ $status = 0 ] && grep -q 'dry run: would kill cgroup /pol/small; nothing was killed' /tmp/dry.txt; then pass dry-named-cgroup
else fail dry-named-cgroup "status $status: $(head -c 300 /tmp/dry.txt) $(head -c 200 /tmp/dry.err)"; fi
check dry-killed-nothing eval "alive $hog_big && alive $hog_small && alive $hog_x && alive $hog_y"

# simulate --from a snapshot of the same tree: the same victim and the same ranking.
oomctl snapshot /pol --top 10000 -o /tmp/pol-snap.json 2>/tmp/snap.err || fail snapshot "$(head -c 300 /tmp/snap.err)"
oomctl simulate --from /tmp/pol-snap.json --policy largest --json >/tmp/sim.json 2>/tmp/sim.err
status=$?
if [ $status = 0 ]; then pass simulate-exit-0; else fail simulate-exit-0 "status $status: $(head -c 300 /tmp/sim.err)"; fi
if jq -e --slurpfile d /tmp/dry1.json '.victim.target == $d[0].decision.victim.target' /tmp/sim.json >/dev/null; then
    pass simulate-same-victim
else
    fail simulate-same-victim "simulate: $(jq -c .victim.target /tmp/sim.json), kill --dry-run: $(jq -c .decision.victim.target /tmp/dry1.json)"
fi
if jq -e --slurpfile d /tmp/dry1.json '[.ranked[].target] == [$d[0].decision.ranked[].target]' /tmp/sim.json >/dev/null; then
    pass simulate-same-ranking
else
    fail simulate-same-ranking "simulate: $(jq -c '[.ranked[].target.cgroup]' /tmp/sim.json), dry run: $(jq -c '[.decision.ranked[].target.cgroup]' /tmp/dry1.json)"
fi

# The real kill: the whole unit (both members) dies through cgroup.kill, its siblings live on.
oomctl kill --under /pol --policy largest --json >/tmp/unit.json 2>/tmp/unit.err
status=$?
if [ $status = 0 ]; then pass unit-kill-exit-0; else fail unit-kill-exit-0 "status $status: $(head -c 300 /tmp/unit.err)"; fi
jq_file unit-kill-report /tmp/unit.json '.report.cgroup == "/pol/unit" and .report.method == "cgroup.kill" and .decision.victim.target.cgroup == "/pol/unit"'
# cgroup.kill first, then the look: the members may be gone before it, a sibling is never listed.
jq_file unit-kill-no-sibling /tmp/unit.json ".report.signalledPIDs | index($hog_big) == null and index($hog_small) == null"
check unit-members-dead wait_for 5 eval "dead $hog_x && dead $hog_y"
check unit-empty wait_for 5 grep -qx 'populated 0' $CG/pol/unit/cgroup.events
check unit-siblings-survive eval "alive $hog_big && alive $hog_small"
