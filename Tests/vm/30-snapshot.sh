# oomctl snapshot on cgroup v2 after a real OOM kill: the tree under /snap with usage, limits and the
# memory.events counters, in --json (queried with jq), in -o FILE, and in the human summary.
mkcg /snap/a >/dev/null && mkcg /snap/b >/dev/null || { fail mkcg "cannot create /snap/a, /snap/b"; exit 0; }
echo 32M >$CG/snap/a/memory.max
echo 30M >$CG/snap/a/memory.high
run_in_cg /snap/a dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null
wait_for 20 event_cmp /snap/a oom_kill -ge 1 || fail setup-oom-kill "no OOM kill in /snap/a: $(cat $CG/snap/a/memory.events)"
spawn_in_cg /snap/a sleep 100000
sleeper=$SPAWNED
wait_for 20 grep -qx "$sleeper" $CG/snap/a/cgroup.procs || fail setup-sleeper "sleep $sleeper not in /snap/a"

oomctl snapshot /snap --json >/tmp/snap.json 2>/tmp/snap.err
status=$?
if [ $status = 0 ]; then pass json-exit-0; else fail json-exit-0 "status $status: $(head -c 300 /tmp/snap.err)"; fi

# jq_check CHECK FILTER: pass when FILTER is true on /tmp/snap.json.
jq_check() {
    if jq -e "$2" /tmp/snap.json >/dev/null 2>/tmp/jq.err; then pass "$1"
    else fail "$1" "jq '$2' is not true: $(head -c 200 /tmp/jq.err)"; fi
}
jq_check schema-version '.schemaVersion == 1'
jq_check hierarchy-v2 '.hierarchy.version == 2 and .hierarchy.mountPoint == "/sys/fs/cgroup"'
jq_check root-is-snap '.root == "/snap"'
jq_check first-cgroup-is-root '.cgroups[0].path == "/snap"'
jq_check tree-is-snap-and-children '[.cgroups[].path] | sort == ["/snap", "/snap/a", "/snap/b"]'
jq_check a-limit-32m '.cgroups[] | select(.path == "/snap/a") | .limit == 33554432'
jq_check a-high-30m '.cgroups[] | select(.path == "/snap/a") | .high == 31457280'
jq_check a-usage-in-range '.cgroups[] | select(.path == "/snap/a") | (.usage | type == "number") and .usage > 0 and .usage <= 33554432'
jq_check root-limit-max '.cgroups[] | select(.path == "/snap") | .limit == "max"'
jq_check a-events-oom '.cgroups[] | select(.path == "/snap/a") | .events.oom >= 1'
jq_check a-events-oom-kill '.cgroups[] | select(.path == "/snap/a") | .events.oomKill >= 1'
jq_check a-events-max '.cgroups[] | select(.path == "/snap/a") | .events.max >= 1'
jq_check a-local-events-oom-kill '.cgroups[] | select(.path == "/snap/a") | .localEvents.oomKill >= 1'
jq_check root-events-count-child-kill '.cgroups[] | select(.path == "/snap") | .events.oomKill >= 1'
jq_check root-local-events-no-kill '.cgroups[] | select(.path == "/snap") | .localEvents.oomKill == 0'
jq_check b-no-oom '.cgroups[] | select(.path == "/snap/b") | .events.oom == 0 and .events.oomKill == 0'
jq_check sleeper-in-a-process-ids ".cgroups[] | select(.path == \"/snap/a\") | .processIDs == [$sleeper]"
jq_check process-count '.processCount >= 1'
jq_check sleeper-listed ".processes | any(.pid == $sleeper and .name == \"sleep\" and .cgroup == \"/snap/a\")"
# The counters match the kernel's files at the time of the snapshot.
k=$(memevent /snap/a oom_kill)
jq_check a-oom-kill-matches-kernel ".cgroups[] | select(.path == \"/snap/a\") | .events.oomKill == $k"

# -o FILE: the same JSON, written with mode 0600.
oomctl snapshot /snap -o /tmp/snap-file.json 2>/tmp/snap.err
status=$?
if [ $status = 0 ]; then pass output-file-exit-0; else fail output-file-exit-0 "status $status: $(head -c 300 /tmp/snap.err)"; fi
check output-file-mode-0600 sh -c '[ "$(stat -c %a /tmp/snap-file.json)" = 600 ]'
check output-file-json sh -c 'jq -e ".root == \"/snap\" and (.cgroups | length) == 3" /tmp/snap-file.json'

# Human summary: exit 0 and the group's path is shown.
oomctl snapshot /snap >/tmp/snap.txt 2>/tmp/snap.err
status=$?
if [ $status = 0 ]; then pass human-exit-0; else fail human-exit-0 "status $status: $(head -c 300 /tmp/snap.err)"; fi
check human-shows-path grep -q '/snap/a' /tmp/snap.txt
cat /tmp/snap.txt
