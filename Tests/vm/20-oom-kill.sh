# A real OOM kill inside a test group with memory.max: the kernel kills the hog and counts it in
# memory.events (oom, oom_kill) of the group.
d=$(mkcg /oom/victim) || { fail mkcg "cannot create /oom/victim"; exit 0; }
echo 32M >"$d/memory.max"
check memory-max-set grep -qx 33554432 "$d/memory.max"
check_event no-oom-kill-before /oom/victim oom_kill -eq 0

# The hog: dd with a 64 MiB block reads /dev/zero into one anonymous buffer, charged to the group it
# joined before it started; 64 MiB is above memory.max and well below guest RAM (512 MiB).
run_in_cg /oom/victim dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null
status=$?
if [ $status = 137 ]; then pass hog-killed-by-sigkill; else fail hog-killed-by-sigkill "dd exit status $status, not 137"; fi
wait_for 20 event_cmp /oom/victim oom_kill -ge 1
check_event memory-events-oom-kill /oom/victim oom_kill -ge 1
check_event memory-events-oom /oom/victim oom -ge 1
check_event memory-events-max /oom/victim max -ge 1
check_event local-events-oom-kill /oom/victim oom_kill -ge 1 memory.events.local
# The parent's hierarchical memory.events counts the child's kill; its local file does not.
check_event parent-counts-oom-kill /oom oom_kill -ge 1
check_event parent-local-no-oom-kill /oom oom_kill -eq 0 memory.events.local
# The group is usable again after the kill: a small allocation succeeds.
check small-alloc-after-kill run_in_cg /oom/victim dd if=/dev/zero of=/dev/null bs=4M count=1
