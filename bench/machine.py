#!/usr/bin/env python3
"""bench/machine.py: what a benchmark report says about the run: the machine, the
compiler, the commit and the command line, as JSON for bench/report.py and
bench/ab.py.

    python3 bench/machine.py OUT.json COMMAND [KEY=VALUE ...]

Extra KEY=VALUE pairs are stored as they are (scripts/bench-ab's A and B labels).
Standard library only.
"""
import json
import os
import platform
import subprocess
import sys


def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return ""


def main():
    info = {"model": "", "cpus": os.cpu_count(), "kernel": platform.release()}
    for line in run("lscpu").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model name":
            info["model"] = value.strip()
        elif key.strip() == "Core(s) per socket":
            info["cores_per_socket"] = value.strip()
        elif key.strip() == "Socket(s)":
            info["sockets"] = value.strip()
    version = run("cc", "--version")
    info["compiler"] = version.splitlines()[0] if version else ""
    info["commit"] = run("git", "rev-parse", "--short", "HEAD")
    info["dirty"] = bool(run("git", "status", "--porcelain", "--untracked-files=no"))
    info["command"] = sys.argv[2].strip()
    for pair in sys.argv[3:]:
        key, _, value = pair.partition("=")
        info[key] = value
    with open(sys.argv[1], "w") as f:
        json.dump(info, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
