#!/usr/bin/env python3
"""bench/report.py: weft_bench's Google Benchmark JSON -> Markdown tables and charts.

Names follow bench/bench.h: "<family>/<case>/<impl>[/<arg>]" plus Google Benchmark's
suffixes (real_time, threads:N). One row per family, case, argument and thread count;
weft's figure, each peer's, and weft's time / the peer's time (lower is better for
weft). A figure is the median of the repetitions with its spread: half the distance
between the fastest and slowest repetition, relative to the median. A target's
verdict is met, missed, or inconclusive when the spreads exceed the margin.

    python3 bench/report.py bench-out/bench.json [--machine bench-out/machine.json]
        [--out bench-out] [--charts DIR] [--benchmarks-md BENCHMARKS.md] [--readme README.md]

Prints the tables; writes <out>/report.md; with --benchmarks-md / --readme replaces the
text between their markers (<!-- bench:begin --> / <!-- bench:end -->, and
<!-- bench:headline:begin --> / <!-- bench:headline:end -->); draws a PNG per case that
ran at three thread counts or more into --charts (when gnuplot is installed).
Standard library only.
"""
import argparse
import collections
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
# Name components Google Benchmark adds that do not tell runs apart for the report.
NOISE = re.compile(r"^(real_time|manual_time|process_time|(min_time|min_warmup_time|"
                   r"iterations|repeats|threads):.*)$")
# Line colours of the charts: weft first, then the peers in registration order.
COLORS = ["#d62728", "#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#8c564b", "#ff7f0e",
          "#7f7f7f", "#bcbd22", "#e377c2"]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
HBEGIN, HEND = "<!-- bench:headline:begin -->", "<!-- bench:headline:end -->"


class Cell:
    """One implementation's repetitions of one row."""

    def __init__(self):
        self.times = []  # ns per operation, one per repetition
        self.items = []  # items per second, when the benchmark counts items
        self.counters = []  # each repetition's user counters (name -> value)
        self.error = None

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def spread(self):
        m = self.median
        return (max(self.times) - min(self.times)) / 2 / m if m > 0 else 0.0

    def throughput(self):
        """Median operations (or items) per second, and its min and max."""
        if self.items and len(self.items) == len(self.times):
            v = self.items
        else:
            v = [1e9 / t for t in self.times if t > 0]
        return statistics.median(v), min(v), max(v)


def load(paths):
    """Returns (context, rows, order): rows[(family, case, params, threads)][impl] = Cell."""
    rows = collections.OrderedDict()
    order = {}  # family or family/impl -> first registration index
    case_order = {}  # (family, case) -> first registration index
    context = {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        context = context or data.get("context", {})
        for b in data.get("benchmarks", []):
            if b.get("run_type") == "aggregate":
                continue
            parts = b.get("run_name", b["name"]).split("/")
            if len(parts) < 3:
                continue  # not <family>/<case>/<impl>: not ours to compare
            family, case, impl = parts[:3]
            params = tuple(p for p in parts[3:] if not NOISE.match(p))
            key = (family, case, params, int(b.get("threads", 1)))
            idx = b.get("family_index", 0)
            order[family] = min(order.get(family, idx), idx)
            order[family + "/" + impl] = min(order.get(family + "/" + impl, idx), idx)
            case_order[(family, case)] = min(case_order.get((family, case), idx), idx)
            cell = rows.setdefault(key, {}).setdefault(impl, Cell())
            if b.get("error_occurred"):
                cell.error = b.get("error_message", "error")
                continue
            real = "real_time" in parts[3:] or "manual_time" in parts[3:]
            t = b["real_time" if real else "cpu_time"] * UNIT_NS.get(b.get("time_unit", "ns"), 1)
            cell.times.append(t)
            if "items_per_second" in b:
                cell.items.append(b["items_per_second"])
            cell.counters.append({k: v for k, v in b.items() if isinstance(v, (int, float))})
    # Rows in registration order of their case, then by argument and thread count.
    def sort_key(item):
        (family, case, params, threads), _ = item
        return (order.get(family, 0), case_order.get((family, case), 0),
                [int(p) if p.isdigit() else p for p in params], threads)
    rows = collections.OrderedDict(sorted(rows.items(), key=sort_key))
    return context, rows, order


AB_KEYS = ("ratio_p10", "ratio_p50", "ratio_p90", "slower_frac", "rounds")


def split_ab(rows):
    """Takes the same-run A/B rows out of `rows`: a case "<case>_ab" whose impl is
    "weft-and-<peer>" and whose repetitions carry the AB_KEYS counters (bench/lock.c's
    contended_ab) is shown beside "<case>" instead of as a row of its own (an empty
    "<case>" row takes its place when "<case>" did not run). Returns
    ab[(family, case, params, threads)] = (peer, Cell)."""
    ab = {}
    out = collections.OrderedDict()
    for key, cells in rows.items():
        family, case, params, threads = key
        base = (family, case[:-3], params, threads)
        for impl, cell in list(cells.items()):
            if not (case.endswith("_ab") and impl.startswith("weft-and-")) or not cell.counters \
                    or not all(k in c for c in cell.counters for k in AB_KEYS):
                continue
            ab[base] = (impl[len("weft-and-"):], cell)
            del cells[impl]
            if base not in rows:
                out.setdefault(base, {})
        if cells:
            out[key] = cells
    rows.clear()
    rows.update(out)
    return ab


def fmt_ab(peer, cell):
    """weft/peer of the same rounds: the median over the repetitions of each round
    percentile, and the fraction of all rounds in which weft was slower."""
    if cell.error:
        return "error: " + cell.error
    med = lambda k: statistics.median(c[k] for c in cell.counters)
    rounds = sum(c["rounds"] for c in cell.counters)
    slower = sum(c["slower_frac"] * c["rounds"] for c in cell.counters)
    return "%.2fx (p10-p90 %.2f-%.2fx), slower in %.0f%% of %d rounds" % (
        med("ratio_p50"), med("ratio_p10"), med("ratio_p90"),
        100.0 * slower / rounds if rounds else 0, rounds)


def fmt_time(ns):
    """Three significant digits in the unit that keeps the number under 1000."""
    for unit, scale in (("ns", 1), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)):
        if ns < scale * 999.5 or unit == "s":
            v = ns / scale
            return ("%.2f" % v if v < 9.995 else "%.1f" % v if v < 99.95 else "%.0f" % v) + " " + unit
    return "?"


def fmt_cell(cell, weft=None):
    if cell is None:
        return "–"
    if cell.error or not cell.times:
        return "error: " + (cell.error or "no result")
    pct = cell.spread * 100
    s = "%s ±%s%%" % (fmt_time(cell.median), "%.1f" % pct if pct < 10 else "%.0f" % pct)
    if weft is not None and weft.times and not weft.error:
        s += " (%.2fx)" % (weft.median / cell.median)
    return s


def ratio(rowcells, peer):
    w, p = rowcells.get("weft"), rowcells.get(peer)
    if not w or not p or not w.times or not p.times or w.error or p.error:
        return None
    return w.median / p.median


def parse_targets(context):
    """weft_targets "key@2+8:peer:0.9;..." -> [(key, {threads} or None, peer, limit)]."""
    out = []
    for item in filter(None, context.get("weft_targets", "").split(";")):
        where, peer, limit = item.rsplit(":", 2)
        key, _, at = where.partition("@")
        threads = {int(t) for t in at.split("+") if t} or None
        out.append((key, threads, peer, float(limit)))
    return out


def row_label(case, params, threads):
    label = case + ("/" + "/".join(params) if params else "")
    return label, threads


def impls_of(family, rows, order):
    seen = {impl for (f, _, _, _), cells in rows.items() if f == family for impl in cells}
    return sorted(seen, key=lambda i: (i != "weft", order.get(family + "/" + i, 1 << 30), i))


def family_table(family, rows, order, targets, ab=None):
    impls = impls_of(family, rows, order)
    peers = [i for i in impls if i != "weft"]
    has_target = any(k.split("/")[0] == family for k, _, _, _ in targets)
    ab = {k: v for k, v in (ab or {}).items() if k[0] == family}
    ab_peers = sorted({peer for peer, _ in ab.values()})
    head = ["case", "threads"] + impls + ["weft/%s same run" % p for p in ab_peers] + \
        (["target"] if has_target else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (f, case, params, threads), cells in rows.items():
        if f != family:
            continue
        label, _ = row_label(case, params, threads)
        w = cells.get("weft")
        out = [label, str(threads), fmt_cell(w)] if "weft" in impls else [label, str(threads)]
        out += [fmt_cell(cells.get(p), w) for p in peers]
        for p in ab_peers:
            peer, cell = ab.get((f, case, params, threads), (None, None))
            out.append(fmt_ab(peer, cell) if peer == p else "")
        if has_target:
            out.append(target_verdict(family + "/" + case, threads, cells, targets) or "")
        lines.append("| " + " | ".join(out) + " |")
    return lines


def verdict(cells, peer, limit, by=False):
    """met / missed against a limit on weft's time over the peer's, or inconclusive
    when the figures are too noisy to tell: the ratio of two medians is uncertain by
    about the sum of their relative spreads, and when that exceeds the margin (how
    far the ratio lies from the limit, relative to the limit) the repetitions do not
    say which side of the limit the truth is on. `by` adds the numbers."""
    r = ratio(cells, peer)
    if r is None:
        return "not measured"
    noise = cells["weft"].spread + cells[peer].spread
    margin = abs(r / limit - 1)
    if noise > margin:
        return "inconclusive" + (": spread ±%.0f%% > margin %.0f%%" % (noise * 100, margin * 100)
                                 if by else "")
    if r <= limit:
        return "met"
    return "**missed**" + (" by %.0f%%" % (margin * 100) if by else "")


def target_verdict(key, threads, cells, targets):
    for tkey, tthreads, peer, limit in targets:
        if tkey != key or (tthreads and threads not in tthreads):
            continue
        return "≤ %.2fx %s: %s" % (limit, peer, verdict(cells, peer, limit))
    return None


def targets_table(rows, targets):
    lines = ["| target | threads | weft | peer | weft/peer | |", "|---|---|---|---|---|---|"]
    for key, tthreads, peer, limit in targets:
        family, case = key.split("/", 1)
        for (f, c, params, threads), cells in rows.items():
            if (f, c) != (family, case) or (tthreads and threads not in tthreads):
                continue
            r = ratio(cells, peer)
            label, _ = row_label(key, params, threads)
            lines.append("| %s ≤ %.2fx %s | %d | %s | %s | %s | %s |" % (
                label, limit, peer, threads, fmt_cell(cells.get("weft")), fmt_cell(cells.get(peer)),
                "–" if r is None else "%.2fx" % r, verdict(cells, peer, limit, by=True)))
    return lines if len(lines) > 2 else []


def headline_table(rows, context, targets):
    keys = [k for k in context.get("weft_headline", "").split(",") if k]
    lines = ["| benchmark | threads | weft | pthread | weft/pthread | best peer | weft/best |",
             "|---|---|---|---|---|---|---|"]
    for key in keys:
        family, case = key.split("/", 1)
        wanted = set()
        for tkey, tthreads, _, _ in targets:
            if tkey == key and tthreads:
                wanted |= tthreads
        for (f, c, params, threads), cells in rows.items():
            if (f, c) != (family, case) or (wanted and threads not in wanted):
                continue
            w = cells.get("weft")
            peers = [(i, cl) for i, cl in cells.items() if i != "weft" and cl.times and not cl.error]
            if not w or not w.times or not peers:
                continue
            best, bcell = min(peers, key=lambda p: p[1].median)
            pt = cells.get("pthread")
            rp = ratio(cells, "pthread")
            label, _ = row_label(key, params, threads)
            lines.append("| %s | %d | %s | %s | %s | %s %s | %.2fx |" % (
                label, threads, fmt_cell(w), fmt_cell(pt) if pt else "–",
                "–" if rp is None else "%.2fx" % rp, best, fmt_cell(bcell), w.median / bcell.median))
    return lines if len(lines) > 2 else []


def charts(rows, order, context, machine, chart_dir, data_dir):
    """One PNG per (family, case, params) with three thread counts or more."""
    groups = collections.OrderedDict()
    for (f, c, params, threads), cells in rows.items():
        groups.setdefault((f, c, params), {})[threads] = cells
    made = []
    gnuplot = shutil.which("gnuplot")
    for (family, case, params), by_threads in groups.items():
        if len(by_threads) < 3:
            continue
        if not gnuplot:
            print("gnuplot not found: no charts", file=sys.stderr)
            return made
        impls = impls_of(family, {k: v for k, v in rows.items() if k[:3] == (family, case, params)},
                         order)
        slug = "-".join([family, case] + [re.sub(r"[^A-Za-z0-9]+", "_", p) for p in params])
        dat = os.path.join(data_dir, "bench-%s.dat" % slug)
        png = os.path.join(chart_dir, "bench-%s.png" % slug)
        items = all(cl.items for cells in by_threads.values() for cl in cells.values() if cl.times)
        with open(dat, "w") as f:
            f.write("# threads " + " ".join("%s(median min max)" % i for i in impls) + "\n")
            for t in sorted(by_threads):
                vals = []
                for i in impls:
                    cl = by_threads[t].get(i)
                    if cl and cl.times and not cl.error:
                        vals += ["%.6g" % (v / 1e6) for v in cl.throughput()]
                    else:
                        vals += ["?"] * 3
                f.write("%d %s\n" % (t, " ".join(vals)))
        where = machine_line(machine, context, short=True)
        plots = []
        for n, impl in enumerate(impls):
            col = 2 + 3 * n
            style = "lw 3 lc rgb '%s'" % COLORS[n % len(COLORS)] if impl == "weft" else \
                "lw 1.5 lc rgb '%s'" % COLORS[n % len(COLORS)]
            plots.append("'%s' using 1:%d:%d:%d with yerrorlines %s title '%s'" % (
                dat, col, col + 1, col + 2, style, impl))
        script = "\n".join([
            "set terminal pngcairo size 900,540 noenhanced font ',11'",
            "set output '%s'" % png,
            'set title "%s: throughput against threads (higher is better)\\n%s"' % (
                "/".join([family, case] + list(params)), where.replace('"', "")),
            "set xlabel 'threads'",
            "set ylabel 'million %s per second'" % ("items" if items else "operations"),
            "set logscale x 2",
            "set xrange [0.8:%g]" % (max(by_threads) * 1.25),
            "set xtics (%s)" % ", ".join(str(t) for t in sorted(by_threads)),
            "set yrange [0:*]",
            "set grid",
            "set key outside right top",
            "set datafile missing '?'",
            "plot " + ", ".join(plots),
        ]) + "\n"
        gp = dat[:-4] + ".gp"
        with open(gp, "w") as f:
            f.write(script)
        r = subprocess.run([gnuplot, gp], capture_output=True, text=True)
        if r.returncode != 0:
            print("gnuplot failed for %s: %s" % (png, r.stderr.strip()), file=sys.stderr)
            continue
        made.append(((family, case, params), png))
    return made


def machine_line(machine, context, short=False):
    model = machine.get("model") or "unknown CPU"
    cpus = machine.get("cpus") or context.get("num_cpus", "?")
    if short:
        return "%s, %s CPUs" % (model, cpus)
    parts = ["%s, %s CPUs" % (model, cpus)]
    if machine.get("sockets") and machine.get("cores_per_socket"):
        parts[0] += " (%s socket(s) x %s cores)" % (machine["sockets"], machine["cores_per_socket"])
    if machine.get("kernel"):
        parts.append("Linux " + machine["kernel"])
    if machine.get("compiler"):
        parts.append(machine["compiler"])
    if context.get("weft_backend"):
        parts.append("weft wait backend: " + context["weft_backend"])
    if context.get("library_build_type"):
        parts.append("libbenchmark built as " + context["library_build_type"])
    return "; ".join(parts)


def replace_between(path, begin, end, body):
    """Replaces the text between two marker lines; False when the markers are missing."""
    if not os.path.exists(path):
        return False
    with open(path) as f:
        text = f.read()
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        return False
    text = text[:i + len(begin)] + "\n" + body.rstrip("\n") + "\n" + text[j:]
    with open(path, "w") as f:
        f.write(text)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", nargs="+")
    ap.add_argument("--machine", help="machine.json written by scripts/bench")
    ap.add_argument("--out", default="bench-out", help="report.md and chart data go here")
    ap.add_argument("--charts", help="directory for the PNG charts")
    ap.add_argument("--benchmarks-md", help="write the report between its bench markers")
    ap.add_argument("--readme", help="write the headline between its bench:headline markers")
    a = ap.parse_args()

    context, rows, order = load(a.json)
    ab = split_ab(rows)
    machine = {}
    if a.machine and os.path.exists(a.machine):
        with open(a.machine) as f:
            machine = json.load(f)
    if not rows:
        print("no <family>/<case>/<impl> results in " + ", ".join(a.json), file=sys.stderr)
        return 1
    targets = parse_targets(context)
    os.makedirs(a.out, exist_ok=True)
    made = []
    if a.charts:
        os.makedirs(a.charts, exist_ok=True)
        made = charts(rows, order, context, machine, a.charts, a.out)

    reps = max(len(c.times) for cells in rows.values() for c in cells.values())
    families = sorted({k[0] for k in rows}, key=lambda f: order.get(f, 0))

    def render(md_dir):
        rel = lambda p: os.path.relpath(p, md_dir)
        out = []
        out.append("Generated by `%s` on %s%s." % (
            machine.get("command", "scripts/bench"), context.get("date", "?")[:16].replace("T", " "),
            (", commit %s%s" % (machine["commit"], " (with local changes)" if machine.get("dirty") else ""))
            if machine.get("commit") else ""))
        out.append("Machine: %s." % machine_line(machine, context))
        out.append("")
        out.append("Each figure is the median of %d repetitions, run in random interleaved order, "
                   "± half the spread between the fastest and slowest repetition. Times are "
                   "wall-clock per operation; with several threads, per operation of all threads "
                   "together (inverse throughput). **(0.80x) is weft's time / that peer's time: "
                   "below 1.00x weft is faster.** A target's verdict is *inconclusive* when the "
                   "two figures' spreads together exceed its margin (how far weft/peer lies "
                   "from the limit): the repetitions cannot tell which side of it weft is on. "
                   "A *same run* column compares weft and that peer in alternating rounds of one "
                   "run: the median of the rounds' ratios, their 10th to 90th percentile, and "
                   "the fraction of rounds in which weft was slower."
                   % reps)
        h = headline_table(rows, context, targets)
        if h:
            out += ["", "### Headline", ""] + h
        t = targets_table(rows, targets)
        if t:
            out += ["", "### Targets", ""] + t
        for fam in families:
            out += ["", "### " + fam, ""] + family_table(fam, rows, order, targets, ab)
            for (f, c, params), png in made:
                if f == fam:
                    out += ["", "![%s](%s)" % ("/".join([f, c] + list(params)), rel(png))]
        return "\n".join(out) + "\n"

    text = render(a.out)
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(text)
    print(text)
    if a.benchmarks_md:
        body = render(os.path.dirname(os.path.abspath(a.benchmarks_md)))
        if replace_between(a.benchmarks_md, BEGIN, END, body):
            print("wrote %s" % a.benchmarks_md, file=sys.stderr)
        else:
            print("%s: no %s ... %s markers, not written" % (a.benchmarks_md, BEGIN, END),
                  file=sys.stderr)
    if a.readme:
        md_dir = os.path.dirname(os.path.abspath(a.readme))
        h = headline_table(rows, context, targets)
        body = ["Measured by `scripts/bench` on %s; time per operation, weft's time / the peer's "
                "in brackets (below 1.00x weft is faster). Every figure, the targets and how they "
                "were measured: [BENCHMARKS.md](BENCHMARKS.md)." % machine_line(machine, context, True),
                ""] + h
        lock_chart = [png for (f, c, p), png in made if (f, c) == ("lock", "contended")]
        if lock_chart:
            body += ["", "![lock/contended](%s)" % os.path.relpath(lock_chart[0], md_dir)]
        if replace_between(a.readme, HBEGIN, HEND, "\n".join(body)):
            print("wrote the headline into %s" % a.readme, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
