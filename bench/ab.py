#!/usr/bin/env python3
"""bench/ab.py: the report of scripts/bench-ab (A: a baseline revision, B: the tree).

    python3 bench/ab.py bench-out/ab --rounds N

Reads <dir>/a-<r>.json and <dir>/b-<r>.json (one run of each build per round) and
<dir>/machine.json. Per benchmark row (report.py's rows: family, case, argument,
threads, impl): A's and B's median time, the median of the per-round ratios B/A and
their range. The control rows (one peer per family, picked by scripts/bench-ab: the same
code in both builds) give the
run's noise, per family: the median over that family's control rows of the
distance from 1 of their median ratio (all control rows for a family without
one), at least 5%. A
weft row is "faster" (or "slower") when every round's ratio is below (above)
1 and its median ratio is further from 1 than the noise; else "within noise".
Writes <dir>/ab.md and prints it. Standard library only.
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (the row keys and time extraction are report.py's)

MIN_NOISE = 0.05


def per_round(path):
    """{(family, case, params, threads, impl): ns} of one run."""
    _, rows, _ = report.load([path])
    out = {}
    for key, cells in rows.items():
        for impl, cell in cells.items():
            if cell.times and not cell.error:
                out[key + (impl,)] = cell.times[0]
    return out


def label(key):
    family, case, params, threads, impl = key
    name = "/".join([family, case, impl] + list(params))
    return name + (f" x{threads}" if threads > 1 else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--rounds", type=int, required=True)
    args = ap.parse_args()
    a_runs = [per_round(os.path.join(args.dir, f"a-{r}.json")) for r in range(1, args.rounds + 1)]
    b_runs = [per_round(os.path.join(args.dir, f"b-{r}.json")) for r in range(1, args.rounds + 1)]
    keys = sorted(set.intersection(*(set(x) for x in a_runs + b_runs)),
                  key=lambda k: (k[0], k[1], k[2], k[3], k[4]))
    stats = {}
    for k in keys:
        ratios = [b[k] / a[k] for a, b in zip(a_runs, b_runs) if a[k] > 0]
        stats[k] = (statistics.median(a[k] for a in a_runs),
                    statistics.median(b[k] for b in b_runs),
                    statistics.median(ratios), min(ratios), max(ratios))
    def weft_impl(impl):
        return impl.startswith(("weft", "any"))
    controls = [k for k in keys if not weft_impl(k[4])]
    # The typical control deviation (the median: one wild control row must not
    # hide every difference in its family).
    def typical(ks):
        return max(MIN_NOISE, statistics.median(abs(stats[k][2] - 1) for k in ks)) if ks else MIN_NOISE
    overall = typical(controls)
    noise = {f: typical([k for k in controls if k[0] == f]) for f in {k[0] for k in controls}}

    def verdict(k):
        _, _, med, lo, hi = stats[k]
        n = noise.get(k[0], overall)
        if hi < 1 and 1 - med > n:
            return "faster"
        if lo > 1 and med - 1 > n:
            return "slower"
        return "within noise"

    machine = {}
    mpath = os.path.join(args.dir, "machine.json")
    if os.path.exists(mpath):
        machine = json.load(open(mpath))
    lines = [f"A = {machine.get('a', '?')}, B = {machine.get('b', '?')}; "
             f"{args.rounds} alternating rounds; `{machine.get('command', '')}`; "
             f"{machine.get('model', '')}, {machine.get('cpus', '?')} CPUs, "
             f"kernel {machine.get('kernel', '')}.",
             "",
             f"Noise (per family, the median control-row deviation, at least "
             f"{MIN_NOISE:.0%}): " + ", ".join(f"{fam} {v:.0%}" for fam, v in sorted(noise.items()))
             + f"; elsewhere {overall:.0%}.",
             ""]
    weft = [k for k in keys if weft_impl(k[4])]
    count = {v: sum(1 for k in weft if verdict(k) == v) for v in ("faster", "within noise", "slower")}
    lines.append(f"weft rows: {len(weft)}; faster {count['faster']}, within noise "
                 f"{count['within noise']}, slower {count['slower']}.")
    lines += ["", "| benchmark | A | B | B/A (median) | B/A range | verdict |",
              "|---|---:|---:|---:|---:|---|"]
    for k in weft + controls:
        a, b, med, lo, hi = stats[k]
        v = verdict(k) if weft_impl(k[4]) else "control"
        lines.append(f"| {label(k)} | {report.fmt_time(a)} | {report.fmt_time(b)} | "
                     f"{med:.2f} | {lo:.2f}-{hi:.2f} | {v} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.dir, "ab.md"), "w") as f:
        f.write(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
