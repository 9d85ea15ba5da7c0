"""Shared by the Benchmarks/*/measure.py scripts: running commands through spawn-measure (lib/spawn-measure.c),
summarising repeated runs, and the `BENCH_JSON {...}` line.

Import with:  sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
"""
import json
import os
import statistics
import subprocess
import sys
import time


def die(message, program="measure.py"):
    print(f"{program}: error: {message}", file=sys.stderr)
    sys.exit(1)


def spawn_and_wait(helper, argv, stdin_path=None, stdout_path=None, quiet=False, wait_cgroup=None,
                   usage_limit=0, timeout=60):
    """Runs argv through spawn-measure (fork, exec, wait4; stdout to /dev/null or stdout_path).
    Returns a dict: status, wall_s, rss_kib; with wait_cgroup also condition_s (None on timeout) and polls:
    the time from just before fork until wait_cgroup has no process left and its usage is <= usage_limit."""
    command = [helper]
    if quiet or stdin_path:  # the snapshot baseline drops stderr (see snapshot/measure.py)
        command.append("-q")
    if stdin_path:
        command += ["-i", stdin_path]
    if stdout_path:
        command += ["-o", stdout_path]
    if wait_cgroup:
        command += ["-w", wait_cgroup, "-u", str(usage_limit), "-t", str(timeout)]
    result = subprocess.run(command + argv, stdout=subprocess.PIPE, check=True)
    fields = [int(x) for x in result.stdout.split()]
    record = {"status": fields[2], "wall_s": fields[0] / 1e9, "rss_kib": fields[1]}
    if wait_cgroup:
        record["condition_s"] = fields[3] / 1e9 if fields[3] >= 0 else None
        record["polls"] = fields[4]
    return record


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def bench_json(name, fields):
    """The one machine-readable line every benchmark prints last."""
    line = {"benchmark": name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "nproc": os.cpu_count(), "kernel": os.uname().release,
            "loadavg": [round(x, 2) for x in os.getloadavg()]}
    line.update(fields)
    return "BENCH_JSON " + json.dumps(line, separators=(",", ":"))
