#!/usr/bin/env python3
"""Measuring half of Benchmarks/snapshot/run (the bash script owns the cgroup tree and its clean-up).

  measure.py case --name NAME --root CGROUP_DIR --oomctl BIN --runs N --out FILE.json [--snapshot-arg ARG]
      Builds the list of the files `oomctl snapshot` reads for the tree at CGROUP_DIR (once, before any
      timing), then times, interleaved, N runs of `oomctl snapshot [ARG] --json` against N runs of
      `xargs -0 -s <ARG_MAX-ish> cat` of that list, both with stdout to /dev/null.
      Each run goes through spawn-measure (../lib/spawn-measure.c): wall = CLOCK_MONOTONIC around fork..wait4,
      peak RSS = ru_maxrss from wait4, which covers the child and its reaped children (so the larger of
      xargs and cat for the baseline).
  measure.py report A.json B.json ...
      Prints the table, PASS/MISS against the targets and one `BENCH_JSON {...}` line.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import benchlib  # noqa: E402  (Benchmarks/lib: spawn-measure, summaries, BENCH_JSON)
from benchlib import summary  # noqa: E402

CGROUP_FILES_V1 = [
    "memory.usage_in_bytes", "memory.limit_in_bytes", "memory.soft_limit_in_bytes",
    "memory.max_usage_in_bytes", "memory.memsw.usage_in_bytes", "memory.memsw.limit_in_bytes",
    "memory.stat", "memory.oom_control", "cgroup.procs",
]
SYSTEM_FILES = [
    "/proc/meminfo", "/proc/vmstat", "/proc/pressure/memory", "/proc/slabinfo", "/proc/vmallocinfo",
    "/proc/zoneinfo", "/proc/buddyinfo", "/proc/sys/kernel/osrelease", "/proc/self/mountinfo",
]
TOP = 10
WARMUP = 2
TARGET_RATIO = 2.0
TARGET_TREE_MS = 50.0


def die(message):
    benchlib.die(message)


def status_footprint_kib(pid):
    """VmRSS + VmSwap of a process in KiB, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    total = 0
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmSwap:")):
            total += int(line.split()[1])
    return total


def build_file_list(root):
    """The files snapshot reads for the tree at `root`, in the order it reads them; and the counts."""
    files, pids, cgroups = [], [], 0
    for directory, subdirs, _ in os.walk(root, followlinks=False):
        subdirs.sort()
        cgroups += 1
        for name in CGROUP_FILES_V1:
            path = os.path.join(directory, name)
            if os.path.exists(path):
                files.append(path)
        try:
            with open(os.path.join(directory, "cgroup.procs")) as f:
                pids += [int(line) for line in f if line.strip()]
        except OSError:
            pass
    footprints = []
    for pid in pids:
        files.append(f"/proc/{pid}/status")
        footprint = status_footprint_kib(pid)
        if footprint:
            footprints.append((footprint, pid))
    for _, pid in sorted(footprints, reverse=True)[:TOP]:
        files += [f"/proc/{pid}/cmdline", f"/proc/{pid}/oom_score", f"/proc/{pid}/oom_score_adj"]
    files += SYSTEM_FILES
    # Drop what is already gone (short-lived processes of the machine, e.g. the shells of this script).
    readable = []
    for path in files:
        try:
            with open(path, "rb") as f:
                f.read()
            readable.append(path)
        except OSError:
            pass
    gone = {p.split("/")[2] for p in files if p not in set(readable) and p.startswith("/proc/")}
    return readable, cgroups, len(pids) - len(gone)


def spawn_and_wait(helper, argv, stdin_path=None):
    """Runs argv through spawn-measure (fork, exec, wait4; stdout to /dev/null).
    Returns (exit status, wall seconds, peak RSS KiB)."""
    # The baseline's stderr is dropped: its list was checked readable before timing, so the only
    # failures left are processes that exited meanwhile (counted, see `vanished`).
    r = benchlib.spawn_and_wait(helper, argv, stdin_path=stdin_path)
    return r["status"], r["wall_s"], r["rss_kib"]


def run_case(args):
    oomctl = os.path.abspath(args.oomctl)
    files, cgroup_count, process_count = build_file_list(args.root)
    list_path = args.out + ".files"
    with open(list_path, "wb") as f:
        f.write(b"\0".join(p.encode() for p in files) + b"\0")
    # One cat for the whole list if it fits: xargs' default buffer is 128 KiB, so ask for almost all of
    # ARG_MAX (minus the environment and a margin). Count the cat invocations once, before timing.
    env_bytes = sum(len(k) + len(v) + 2 + 8 for k, v in os.environ.items())
    xargs_size = os.sysconf("SC_ARG_MAX") - env_bytes - 4096
    baseline = ["xargs", "-0", "-s", str(xargs_size), "cat"]
    probe = os.popen(f"xargs -0 -s {xargs_size} sh -c 'echo $#' sh < '{list_path}'").read().split()
    cat_invocations = len(probe)
    if sum(int(n) for n in probe) != len(files):
        die("xargs probe did not pass every file")

    snapshot = [oomctl, "snapshot"] + ([args.snapshot_arg] if args.snapshot_arg else []) + ["--json"]
    # Check once that oomctl works and saw the same tree as the file list.
    out = os.popen(" ".join(f"'{a}'" for a in snapshot)).read()
    try:
        document = json.loads(out)
    except ValueError:
        die(f"`{' '.join(snapshot)}` did not print JSON")
    seen_cgroups, seen_processes = len(document["cgroups"]), document["processCount"]
    if abs(seen_cgroups - cgroup_count) > 2 or abs(seen_processes - process_count) > 20:
        die(f"oomctl saw {seen_cgroups} cgroups / {seen_processes} processes, "
            f"the file list has {cgroup_count} / {process_count}")

    # Third, for reference: `oomctl --version`, the floor any oomctl run pays (exec, relocations, Swift
    # runtime start-up, ArgumentParser), so that the table says what part of the gap is the snapshot itself.
    results = {k: {"wall": [], "rss": []} for k in ("oomctl", "cat", "floor")}
    commands = {"oomctl": (snapshot, None), "cat": (baseline, list_path), "floor": ([oomctl, "--version"], None)}
    vanished = 0
    for i in range(WARMUP + args.runs):
        order = [["oomctl", "cat", "floor"], ["cat", "floor", "oomctl"], ["floor", "oomctl", "cat"]][i % 3]
        for which in order:
            argv, stdin = commands[which]
            code, wall, rss = spawn_and_wait(args.helper, argv, stdin)
            if which == "cat" and code == 123:
                vanished += 1  # xargs: some cat failed, i.e. a process of the list exited meanwhile
            elif code != 0:
                die(f"{which} exited with status {code}: {' '.join(argv)}")
            if i >= WARMUP:
                results[which]["wall"].append(wall * 1000.0)
                results[which]["rss"].append(rss)
    os.unlink(list_path)

    record = {
        "name": args.name, "root": args.root, "cgroups": cgroup_count, "processes": process_count,
        "files": len(files), "file_list_bytes": sum(len(p) + 1 for p in files),
        "oomctl_saw": {"cgroups": seen_cgroups, "processes": seen_processes},
        "json_bytes": len(out.encode()), "runs": args.runs, "warmup": WARMUP, "cat_runs_with_vanished_files": vanished,
        "oomctl_command": " ".join(snapshot[1:]),
        "baseline_command": f"{' '.join(baseline)} < list ({cat_invocations} cat invocation(s))",
    }
    for which in ("oomctl", "cat", "floor"):
        record[which] = {"wall_ms": summary(results[which]["wall"]), "rss_kib": summary(results[which]["rss"])}
    with open(args.out, "w") as f:
        json.dump(record, f)


def report(paths):
    records = [json.load(open(p)) for p in paths]
    compact = {"cases": {}}
    for r in records:
        o, c = r["oomctl"], r["cat"]
        print(f"\n== {r['name']}: {r['cgroups']} cgroups, {r['processes']} processes, {r['files']} files "
              f"({r['runs']} interleaved runs after {r['warmup']} warm-up) ==")
        print(f"   oomctl:   oomctl {r['oomctl_command']} > /dev/null   (JSON: {r['json_bytes']} bytes)")
        print(f"   baseline: {r['baseline_command']} > /dev/null")
        if r["cat_runs_with_vanished_files"]:
            print(f"   ({r['cat_runs_with_vanished_files']} baseline runs met files of processes that had exited)")
        print(f"   {'metric':<22}{'oomctl':>12}{'cat':>12}{'ratio':>9}")
        rows = [("wall median (ms)", o["wall_ms"]["median"], c["wall_ms"]["median"]),
                ("wall min (ms)", o["wall_ms"]["min"], c["wall_ms"]["min"]),
                ("peak RSS median (KiB)", o["rss_kib"]["median"], c["rss_kib"]["median"]),
                ("peak RSS min (KiB)", o["rss_kib"]["min"], c["rss_kib"]["min"])]
        case = {"cgroups": r["cgroups"], "processes": r["processes"], "files": r["files"], "runs": r["runs"]}
        for label, a, b in rows:
            ratio = a / b if b else float("inf")
            print(f"   {label:<22}{a:>12.1f}{b:>12.1f}{ratio:>8.2f}x")
        fl = r["floor"]
        print(f"   reference: oomctl --version (start-up floor): wall median {fl['wall_ms']['median']:.1f} ms, "
              f"min {fl['wall_ms']['min']:.1f} ms; peak RSS median {fl['rss_kib']['median']:.0f} KiB")
        wall_ratio = o["wall_ms"]["median"] / c["wall_ms"]["median"]
        rss_ratio = o["rss_kib"]["median"] / c["rss_kib"]["median"]
        verdicts = {"wall_within_2x": wall_ratio <= TARGET_RATIO, "rss_within_2x": rss_ratio <= TARGET_RATIO}
        print(f"   target wall within {TARGET_RATIO:g}x of cat: {'PASS' if verdicts['wall_within_2x'] else 'MISS'}"
              f" ({wall_ratio:.2f}x)")
        print(f"   target peak RSS within {TARGET_RATIO:g}x of cat: {'PASS' if verdicts['rss_within_2x'] else 'MISS'}"
              f" ({rss_ratio:.2f}x)")
        if r["name"] == "tree":
            verdicts["wall_under_50ms"] = o["wall_ms"]["median"] < TARGET_TREE_MS
            print(f"   target wall under {TARGET_TREE_MS:g} ms: "
                  f"{'PASS' if verdicts['wall_under_50ms'] else 'MISS'} ({o['wall_ms']['median']:.1f} ms)")
        case.update({
            "oomctl_wall_ms_median": round(o["wall_ms"]["median"], 2), "oomctl_wall_ms_min": round(o["wall_ms"]["min"], 2),
            "cat_wall_ms_median": round(c["wall_ms"]["median"], 2), "cat_wall_ms_min": round(c["wall_ms"]["min"], 2),
            "oomctl_rss_kib_median": o["rss_kib"]["median"], "oomctl_rss_kib_min": o["rss_kib"]["min"],
            "cat_rss_kib_median": c["rss_kib"]["median"], "cat_rss_kib_min": c["rss_kib"]["min"],
            "wall_ratio_median": round(wall_ratio, 3),
            "wall_ratio_min": round(o["wall_ms"]["min"] / c["wall_ms"]["min"], 3),
            "rss_ratio_median": round(rss_ratio, 3),
            "floor_wall_ms_median": round(fl["wall_ms"]["median"], 2), "floor_rss_kib_median": fl["rss_kib"]["median"],
            "verdicts": verdicts})
        compact["cases"][r["name"]] = case
    print("\nPASS/MISS are a measurement against the issue's targets, not a test: the exit status is 0 either way.")
    print(benchlib.bench_json("snapshot", compact))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        report(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["case"])
    parser.add_argument("--name", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--oomctl", required=True)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", required=True)
    parser.add_argument("--helper", required=True, help="the compiled spawn-measure.c")
    parser.add_argument("--snapshot-arg")
    args = parser.parse_args()
    if args.runs < 1:
        die("--runs must be at least 1")
    run_case(args)


if __name__ == "__main__":
    main()
