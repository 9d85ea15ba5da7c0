# Real, reclaimable page cache in the guest (the groundwork for tests of memory pressure that the kernel
# can relieve by reclaim, issue 12, item 6): a 110 MiB file on the RAM disk file system (lib.sh,
# make_file) read by a streaming reader (spawn_reader) in a group with memory.max 64M. Its page cache is
# charged to the group as `file`, the kernel reclaims it at the limit (memory.events `max`, and `high`
# once memory.high is set below), pgsteal counts what it took back, and the reader is never OOM-killed.
need_pagecache || exit 0
f=$(make_file big 110) || { fail make-file "cannot write a 110 MiB file to $PAGECACHE_DIR"; exit 0; }
check file-is-110MiB test "$(stat -c %s "$f")" = $((110 * 1048576))
d=$(mkcg /pc/reader) || { fail mkcg "cannot create /pc/reader"; exit 0; }
echo 64M >"$d/memory.max"
check memory-max-64M grep -qx 67108864 "$d/memory.max"
check file-not-charged-before test "$(memstat /pc/reader file)" -lt 1048576

mib() { echo $(($1 / 1048576)); }
now() { cut -d' ' -f1 /proc/uptime; }
# read_phase TAG PASSES: spawn_reader reads the file PASSES times in /pc/reader while a sampler records
# memory.stat `file` every 0.1 s; sets status (the reader's exit status), maxfile (bytes), secs.
read_phase() {
    ( while :; do memstat /pc/reader file; sleep 0.1; done ) >/tmp/pc-$1.samples 2>/dev/null &
    _sampler=$!
    _t0=$(now)
    spawn_reader /pc/reader "$f" "$2"
    wait $SPAWNED
    status=$?
    secs=$(awk -v a="$_t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    kill $_sampler
    wait $_sampler 2>/dev/null
    maxfile=$(sort -n /tmp/pc-$1.samples | tail -n 1)
    maxfile=${maxfile:-0}
}

# --- memory.max only: the reader's page cache fills the group up to its limit, then is reclaimed ------
read_phase max 2
if [ $status = 0 ]; then pass reader-exit-0; else fail reader-exit-0 "reader exit status $status"; fi
if [ "$maxfile" -gt $((20 * 1048576)) ]; then pass file-charged-above-20M
else fail file-charged-above-20M "memory.stat file peaked at $maxfile bytes: $(grep -E '^(anon|file) ' "$d/memory.stat" | tr '\n' ' ')"; fi
check file-within-memory-max test "$maxfile" -le 67108864
check_event memory-events-max /pc/reader max -ge 1
check_event no-oom /pc/reader oom -eq 0
check_event no-oom-kill /pc/reader oom_kill -eq 0
# Two passes of 110 MiB through 64M: at least 156 MiB had to be taken back; ask for 100 MiB.
steal=$(( $(memstat /pc/reader pgsteal) * 4096 ))
if [ $steal -ge $((100 * 1048576)) ]; then pass reclaimed-pgsteal
else fail reclaimed-pgsteal "memory.stat pgsteal is $(memstat /pc/reader pgsteal) pages, want >= 100 MiB"; fi
figure pagecache-max "file peaked at $(mib $maxfile) MiB of memory.max 64M; memory.events max $(memevent /pc/reader max); pgsteal $(mib $steal) MiB; memory.peak $(mib "$(cat "$d/memory.peak" 2>/dev/null || echo 0)") MiB; 2 x 110 MiB read in ${secs}s"

# --- memory.high below memory.max: reclaim starts at memory.high --------------------------------------
high0=$(memevent /pc/reader high)
echo 32M >"$d/memory.high"
check memory-high-32M grep -qx 33554432 "$d/memory.high"
read_phase high 1
if [ $status = 0 ]; then pass reader-exit-0-above-high; else fail reader-exit-0-above-high "reader exit status $status"; fi
check_event memory-events-high /pc/reader high -gt "$high0"
check_event no-oom-kill-above-high /pc/reader oom_kill -eq 0
figure pagecache-high "file peaked at $(mib $maxfile) MiB with memory.high 32M; memory.events high $(memevent /pc/reader high), max $(memevent /pc/reader max); 110 MiB read in ${secs}s"
