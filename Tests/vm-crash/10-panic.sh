# The guest goes down here, on purpose: oomctl watch --system --panic crash, with a real shortage of
# memory, its snapshot on an ext4 disk that the host reads back after QEMU exits. Run by
# scripts/vm-crash-test, which passes only when the console shows oomctl's announcement, then the
# kernel's crash, and no end marker; a check reported after the watch started means it did not crash.

# The evidence disk: an ext4 image made on the host, attached as NVMe (built into Debian's cloud
# kernels: no module to load).
mkdir -p /mnt/evidence
if wait_for 10 test -b /dev/nvme0n1 && mount -t ext4 /dev/nvme0n1 /mnt/evidence; then
    pass evidence-disk-mounted
else
    fail evidence-disk-mounted "no ext4 on /dev/nvme0n1; block devices: $(ls /sys/block | tr '\n' ' ')"
fi
mkdir -p /mnt/evidence/snapshots

# A real shortage: a hog holds memory until only about a third of it is available, below the act
# threshold of 50%. It runs first, so watch acts on its start-up check (no race with PSI).
total=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
available=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
take=$((available - total * 35 / 100))
mkcg /hog >/dev/null
spawn_in_cg /hog oomctl hog "${take}K"
if wait_for 30 sh -c "[ \$(awk '/^MemAvailable:/ { print \$2 }' /proc/meminfo) -lt $((total / 2)) ]"; then
    pass memory-short
else
    fail memory-short "MemAvailable $(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo) kB of $total kB"
fi
figure memory "MemTotal $total kB, MemAvailable $(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo) kB with the hog"

# Its output goes to the console directly (no pipe that could still hold the last line at the crash).
timeout -s TERM 60 oomctl watch --system --min-available 50% --panic crash --confirm-panic \
    --snapshot-dir /mnt/evidence/snapshots --log console
fail still-running "watch returned ($?) and the guest is still up: no crash"
