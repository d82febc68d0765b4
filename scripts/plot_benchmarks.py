#!/usr/bin/env python3
"""Tables and plots for docs/benchmarks.md from criterion's output.

Reads <root>/<group>/<cache>/<threads>/new/{estimates.json,benchmark.json}
and <root>/{herd_loads,hit_ratios}.csv (all written by
`cargo bench --bench contention`; <root> is target/criterion, or wherever
CRITERION_HOME points), prints one markdown table per group (throughput in
millions of operations per second, and shardcache's ratio to each peer), the
loads of the herd workloads and a table of threshold checks on the main
ratios (met or missed), and writes one SVG per group into docs/img/
(throughput against threads, drawn by hand: no third-party packages).

    python3 scripts/plot_benchmarks.py [--update docs/benchmarks.md] [--img docs/img] [root ...]

Given several roots (several runs, e.g. `CRITERION_HOME=target/bench-run1
cargo bench --bench contention`, then run2, run3), each cell is the median
of the runs when there are three or more, else the best of them. The best
run would be the least disturbed one if other processes only ever slowed a
benchmark down, but on a shared machine runs also come out lucky:
identical processes can differ by up to 2x in either direction (page
placement), for one cache at every thread count. The median of three
ignores one such run in either direction.

With --update, the generated markdown replaces whatever lies between the
`<!-- results:begin -->` and `<!-- results:end -->` lines of that file.
"""
import csv
import json
import os
import statistics
import sys
from collections import defaultdict

COLORS = {
    "shardcache": "#d62728",
    "shardcache-tinylfu": "#9467bd",
    "shardcache-1shard": "#e377c2",
    "quick_cache": "#2ca02c",
    "moka": "#ff7f0e",
    "shardcache-ttl": "#8c564b",
    "moka-ttl": "#bcbd22",
    "lru-1mutex": "#7f7f7f",
    "lru-16mutex": "#1f77b4",
    "hashbrown+mutex": "#17becf",
}

ORDER = ["hot_hit", "read_through_s1.0", "read_through_s0.8", "all_hits_s1.0", "all_hits_s0.8",
         "write_heavy_s1.0", "herd", "async_herd"]

TITLES = {
    "hot_hit": "Single-threaded hits on a 1,000-key hot set",
    "read_through_s1.0": "Read-through, Zipf s = 1.0, capacity 2^17 of 2^20 keys",
    "read_through_s0.8": "Read-through, Zipf s = 0.8, capacity 2^17 of 2^20 keys",
    "all_hits_s1.0": "All hits (every key fits, every read promotes), Zipf s = 1.0",
    "all_hits_s0.8": "All hits (every key fits, every read promotes), Zipf s = 0.8",
    "write_heavy_s1.0": "Write-heavy (12.5% inserts, 12.5% removes, 75% read-through), Zipf s = 1.0",
    "herd": "Single-flight herd: every thread asks for the same 64 cold keys (~100 µs loader)",
    "async_herd": "Async herd: 1,024 tokio tasks on 64 cold keys (~100 µs async loader)",
}


def scale(group):
    """(divisor, unit) for a group's throughput."""
    if group in ("herd", "async_herd"):
        return 1e3, "thousand requests per second"
    if group == "hot_hit":
        return 1e6, "million lookups per second"
    return 1e6, "million operations per second"


def cache_order(c):
    return (not c.startswith("shardcache"), c != "shardcache", c)


def load(root):
    """{group: {cache: {threads: ops_per_sec}}}"""
    results = defaultdict(lambda: defaultdict(dict))
    for dirpath, _dirs, files in os.walk(root):
        if "benchmark.json" not in files or os.path.basename(dirpath) != "new":
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        elements = (bench.get("throughput") or {}).get("Elements")
        if not elements:
            continue
        # The median is less sensitive than the mean to the odd sample that
        # another process on this shared machine disturbed.
        ns = est["median"]["point_estimate"]
        group = bench["group_id"]
        cache = bench.get("function_id")
        threads = bench.get("value_str")
        if cache is None:  # bench_function("name") without a parameter
            cache, threads = bench["full_id"].split("/")[-1], "1"
        threads = int(threads) if threads and threads.isdigit() else 1
        results[group][cache][threads] = elements / (ns * 1e-9)
    return results


def load_loads(root):
    """{group: {cache: {threads: (requests, keys, max_loads)}}}"""
    path = os.path.join(root, "herd_loads.csv")
    loads = defaultdict(lambda: defaultdict(dict))
    if os.path.exists(path):
        with open(path) as f:
            for row in csv.DictReader(f):
                loads[row["group"]][row["cache"]][int(row["threads"])] = (
                    int(row["requests"]), int(row["keys"]), int(row["max_loads"]))
    return loads


def load_hit_ratios(root):
    """{group: {cache: hit_ratio}}"""
    path = os.path.join(root, "hit_ratios.csv")
    ratios = defaultdict(dict)
    if os.path.exists(path):
        with open(path) as f:
            for row in csv.DictReader(f):
                ratios[row["group"]][row["cache"]] = float(row["hit_ratio"])
    return ratios


def table(group, data, hits=None):
    div, unit = scale(group)
    threads = sorted({t for per in data.values() for t in per})
    caches = sorted(data, key=cache_order)
    head = "workers" if group == "async_herd" else "thr"
    lines = [f"#### {TITLES.get(group, group)}", ""]
    lines.append(f"Throughput, {unit}" + (" (and the steady-state hit ratio):" if hits else ":"))
    lines.append("")
    extra = " hit ratio |" if hits else ""
    lines.append("| cache | " + " | ".join(f"{t} {head}" for t in threads) + " |" + extra)
    lines.append("| --- |" + " ---: |" * len(threads) + (" ---: |" if hits else ""))
    for c in caches:
        row = [f"{data[c][t] / div:.2f}" if t in data[c] else "" for t in threads]
        if hits:
            row.append(f"{100 * hits[c]:.1f}%" if c in hits else "")
        lines.append(f"| {c} | " + " | ".join(row) + " |")
    ours = data.get("shardcache")
    if ours and len(caches) > 1:
        lines.append("")
        lines.append("shardcache's throughput as a multiple of each peer's (> 1: shardcache is faster):")
        lines.append("")
        lines.append("| shardcache ÷ | " + " | ".join(f"{t} {head}" for t in threads) + " |")
        lines.append("| --- |" + " ---: |" * len(threads))
        for c in caches:
            if c == "shardcache":
                continue
            row = [f"{ours[t] / data[c][t]:.2f}×" if t in ours and t in data[c] else "" for t in threads]
            lines.append(f"| {c} | " + " | ".join(row) + " |")
        tiny = data.get("shardcache-tinylfu")
        if tiny:
            row = [f"*{tiny[t] / ours[t]:.2f}×*" if t in ours and t in tiny else "" for t in threads]
            lines.append("| *shardcache-tinylfu ÷ shardcache* | " + " | ".join(row) + " |")
    return lines


def loads_table(group, data):
    threads = sorted({t for per in data.values() for t in per})
    head = "workers" if group == "async_herd" else "thr"
    sample = next(iter(next(iter(data.values())).values()))
    lines = ["", f"Loader calls per run for {sample[1]} keys (the most any run made; "
             "the goal is one per key):", ""]
    lines.append("| cache | " + " | ".join(f"{t} {head}" for t in threads) + " |")
    lines.append("| --- |" + " ---: |" * len(threads))
    for c in sorted(data, key=cache_order):
        row = []
        for t in threads:
            if t in data[c]:
                requests, keys, loads = data[c][t]
                row.append(f"{loads}" if c != "shardcache" else f"**{loads}**")
            else:
                row.append("")
        lines.append(f"| {c} | " + " | ".join(row) + " |")
    return lines


def key_ratios(runs, results, loads):
    """The main ratios: shardcache against quick_cache and one-mutex `lru`,
    the TinyLfu policy against LRU, the hot-set hit against hashbrown, and
    the loads per key in the herds.

    A ratio compares caches measured side by side in the same run, so with
    three runs or more it is the median, over the runs, of the ratio within
    each run; with fewer, the ratio of the merged cells. (The ratio of two
    per-cell medians would pair one run's cache with another run's peer: on
    a machine whose runs swing by up to 2x, that adds noise the same-run
    ratio does not have.)"""
    out = ["| comparison | measured |", "| --- | --- |"]

    def ratio(group, a, b, t):
        if len(runs) >= 3:
            within = []
            for run in runs:
                try:
                    within.append(run[group][a][t] / run[group][b][t])
                except KeyError:
                    pass
            return statistics.median(within) if within else None
        try:
            return results[group][a][t] / results[group][b][t]
        except KeyError:
            return None

    def row(name, values):
        out.append(f"| {name} | {', '.join(values)} |")

    def tinylfu_row(group):
        r = [(t, ratio(group, "shardcache-tinylfu", "shardcache", t)) for t in (1, 2, 4, 8)]
        r = [(t, x) for t, x in r if x is not None]
        if r:
            row(f"{group}: TinyLfu ÷ LRU policy", [f"{t} thr {x:.2f}×" for t, x in r])

    # The TinyLfu-against-LRU check covers every contention workload; the
    # checks against the peers cover read-through and all hits only.
    for group in ["read_through_s1.0", "read_through_s0.8", "all_hits_s1.0", "all_hits_s0.8",
                  "write_heavy_s1.0"]:
        if group not in results:
            continue
        if group.startswith("write_heavy"):
            tinylfu_row(group)
            continue
        rs = [(t, ratio(group, "shardcache", "quick_cache", t)) for t in (1, 2, 8)]
        rs = [(t, r) for t, r in rs if r is not None]
        row(f"{group}: shardcache ÷ quick_cache", [f"{t} thr {r:.2f}×" for t, r in rs])
        r = ratio(group, "shardcache", "lru-1mutex", 8)
        if r is not None:
            row(f"{group}: shardcache ÷ lru behind one Mutex", [f"8 thr {r:.2f}×"])
        tinylfu_row(group)
    r = ratio("hot_hit", "shardcache", "hashbrown+mutex", 1)
    if r is not None:
        row("hot-set hit: time ÷ a hit in hashbrown behind an uncontended Mutex",
            [f"{1 / r:.2f}×"])
    r = ratio("hot_hit", "shardcache-tinylfu", "shardcache", 1)
    if r is not None:
        row("hot-set hit: TinyLfu ÷ LRU policy", [f"{r:.2f}×"])
    for group in ["herd", "async_herd"]:
        ours = loads.get(group, {}).get("shardcache")
        if ours:
            worst = max(l for _, _, l in ours.values())
            keys = next(iter(ours.values()))[1]
            row(f"{group}: shardcache's loads, most at any thread count",
                [f"{worst} for {keys} keys"])
    return out


def svg(group, data, path):
    threads = sorted({t for per in data.values() for t in per})
    if len(threads) < 2:
        return False
    w, h, m = 560, 340, 60
    div, unit = scale(group)
    ymax = max(v for per in data.values() for v in per.values()) / div
    ymax = ymax * 1.1 if ymax > 0 else 1.0
    step = nice_step(ymax / 5)

    def px(i):
        return m + (w - 2 * m) * i / (len(threads) - 1)

    def py(v):
        return h - m - (h - 2 * m) * v / ymax

    title = TITLES.get(group, group)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + 170}" height="{h}" '
           f'viewBox="0 0 {w + 170} {h}" font-family="sans-serif" font-size="11">',
           f'<rect width="{w + 170}" height="{h}" fill="white"/>',
           f'<text x="{(w + 170) / 2}" y="20" text-anchor="middle" font-size="12">{esc(title)}</text>',
           f'<rect x="{m}" y="{m}" width="{w - 2 * m}" height="{h - 2 * m}" fill="none" stroke="#444"/>']
    v = 0.0
    while v <= ymax:
        out.append(f'<line x1="{m}" x2="{w - m}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>')
        label = f"{v:g}" if step >= 1 else f"{v:.{max(0, -int(f'{step:e}'.split('e')[1]))}f}"
        out.append(f'<text x="{m - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{label}</text>')
        v += step
    for i, t in enumerate(threads):
        out.append(f'<text x="{px(i):.1f}" y="{h - m + 16}" text-anchor="middle">{t}</text>')
    xlabel = "tokio worker threads (2 cores)" if group == "async_herd" else "threads (rayon pool, 2 cores)"
    out.append(f'<text x="{w / 2}" y="{h - 18}" text-anchor="middle">{xlabel}</text>')
    out.append(f'<text x="16" y="{h / 2}" transform="rotate(-90 16 {h / 2})" text-anchor="middle">'
               f'{unit}</text>')
    ly = m
    for c in sorted(data, key=cache_order):
        pts = [(i, data[c][t] / div) for i, t in enumerate(threads) if t in data[c]]
        color = COLORS.get(c, "#000")
        width = 3 if c == "shardcache" else 2
        out.append('<polyline fill="none" stroke-width="%d" stroke="%s" points="%s"/>'
                   % (width, color, " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in pts)))
        for i, v in pts:
            out.append(f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="3" fill="{color}"/>')
        out.append(f'<line x1="{w - 40}" x2="{w - 16}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="{width}"/>')
        out.append(f'<text x="{w - 10}" y="{ly + 4}">{esc(c)}</text>')
        ly += 16
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return True


def nice_step(raw):
    """1, 2 or 5 times a power of ten, at least `raw`."""
    import math
    if raw <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(raw))
    for k in (1, 2, 5, 10):
        if k * p >= raw:
            return k * p
    return 10 * p


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def merge(runs):
    """Per cell, the median throughput of the runs (three or more), else the
    best. Returns the merged results and the statistic's name."""
    values = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for run in runs:
        for group, caches in run.items():
            for cache, per in caches.items():
                for t, v in per.items():
                    values[group][cache][t].append(v)
    use_median = len(runs) >= 3
    merged = defaultdict(lambda: defaultdict(dict))
    for group, caches in values.items():
        for cache, per in caches.items():
            for t, vs in per.items():
                vs = sorted(vs)
                merged[group][cache][t] = statistics.median(vs) if use_median else vs[-1]
    return merged, ("median" if use_median else "best")


def main():
    args = sys.argv[1:]
    update, img = None, "docs/img"
    while args[:1] in (["--update"], ["--img"]):
        if args[0] == "--update":
            update = args[1]
        else:
            img = args[1]
        args = args[2:]
    roots = args or ["target/criterion"]
    os.makedirs(img, exist_ok=True)
    runs = [load(root) for root in roots]
    results, statistic = merge(runs)
    loads = defaultdict(lambda: defaultdict(dict))
    for root in roots:
        for group, caches in load_loads(root).items():
            for cache, per in caches.items():
                for t, (requests, keys, n) in per.items():
                    old = loads[group][cache].get(t, (requests, keys, 0))
                    loads[group][cache][t] = (requests, keys, max(n, old[2]))
    hits = defaultdict(dict)
    for root in reversed(roots):
        for group, per in load_hit_ratios(root).items():
            hits[group].update(per)
    if not results:
        sys.exit(f"no criterion results under {roots}: run `cargo bench --bench contention` first")
    md = [f"Each cell is the {statistic} of {len(roots)} run{'s' if len(roots) > 1 else ''} "
          "(median of 10 samples within a run).", "", "### Key ratios", ""]
    if len(roots) >= 3:
        md += ["Each ratio is the median over the runs of the ratio within",
               "each run (caches measured side by side in the same run); the tables",
               "below give each cell's own median, so a ratio read off them can differ.", ""]
    md += key_ratios(runs, results, loads) + [""]
    for group in sorted(results, key=lambda g: ORDER.index(g) if g in ORDER else 99):
        md += table(group, results[group], hits.get(group))
        if group in loads:
            md += loads_table(group, loads[group])
        name = f"bench_{group}.svg"
        rel = os.path.relpath(os.path.join(img, name), os.path.dirname(update) if update else "docs")
        if svg(group, results[group], os.path.join(img, name)):
            md += ["", f"![{TITLES.get(group, group)}]({rel})"]
        md.append("")
    text = "\n".join(md)
    if update:
        with open(update) as f:
            doc = f.read()
        begin, end = "<!-- results:begin -->", "<!-- results:end -->"
        if begin not in doc or end not in doc:
            sys.exit(f"{update} has no {begin} ... {end} block")
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        with open(update, "w") as f:
            f.write(head + begin + "\n\n" + text + "\n" + end + tail)
        print(f"updated {update}")
    else:
        print(text)


if __name__ == "__main__":
    main()
