# The guest is the cgroup v2 system the other tests assume, and the oomctl binary runs in it.
check cgroup2-at-sys-fs-cgroup grep -q '^cgroup2 /sys/fs/cgroup cgroup2 ' /proc/mounts
check memory-controller-enabled grep -qw memory $CG/cgroup.subtree_control
d=$(mkcg /basics/child) || fail mkcg "cannot create /basics/child"
check child-has-memory-files test -f "$d/memory.max" -a -f "$d/memory.events" -a -f "$d/memory.events.local"
check oomctl-runs sh -c 'oomctl --version | grep -Eq "^[0-9]+\.[0-9]+\.[0-9]+"'
check jq-runs sh -c 'echo "{\"a\":1}" | jq -e ".a == 1"'
