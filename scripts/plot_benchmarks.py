#!/usr/bin/env python3
"""Tables and plots for docs/benchmarks.md from criterion's output.

Reads target/criterion/<group>/<cache>/<threads>/new/{estimates.json,benchmark.json}
(written by `cargo bench --bench contention`), prints one markdown table per
group (throughput in Mops/s, and shardcache's ratio to each peer) and writes
one SVG per group into docs/img/ (throughput against threads), drawn by hand:
no third-party packages.

    python3 scripts/plot_benchmarks.py [target/criterion] [docs/img]
"""
import json
import os
import sys
from collections import defaultdict

COLORS = {
    "shardcache": "#d62728",
    "shardcache-tinylfu": "#9467bd",
    "shardcache-1shard": "#e377c2",
    "quick_cache": "#2ca02c",
    "moka": "#ff7f0e",
    "lru-1mutex": "#7f7f7f",
    "lru-16mutex": "#1f77b4",
    "hashbrown+mutex": "#17becf",
}


def load(root):
    """{group: {cache: {threads: ops_per_sec}}}"""
    results = defaultdict(lambda: defaultdict(dict))
    for dirpath, _dirs, files in os.walk(root):
        if "benchmark.json" not in files or not dirpath.endswith(os.sep + "new"):
            continue
        bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
        est = json.load(open(os.path.join(dirpath, "estimates.json")))
        elements = (bench.get("throughput") or {}).get("Elements")
        if not elements:
            continue
        mean_ns = est["mean"]["point_estimate"]
        group = bench["group_id"]
        cache = bench.get("function_id") or bench.get("value_str") or "?"
        threads = bench.get("value_str")
        if bench.get("function_id") is None:
            cache, threads = bench.get("value_str") or bench["full_id"].split("/")[-1], "1"
        threads = int(threads) if threads and threads.isdigit() else 1
        results[group][cache][threads] = elements / (mean_ns * 1e-9)
    return results


def table(group, data):
    threads = sorted({t for per in data.values() for t in per})
    caches = sorted(data, key=lambda c: (not c.startswith("shardcache"), c))
    lines = [f"#### {group} (Mops/s)", ""]
    lines.append("| cache | " + " | ".join(f"{t} thr" for t in threads) + " |")
    lines.append("| --- |" + " ---: |" * len(threads))
    for c in caches:
        row = [f"{data[c][t] / 1e6:.2f}" if t in data[c] else "" for t in threads]
        lines.append(f"| {c} | " + " | ".join(row) + " |")
    ours = data.get("shardcache")
    if ours:
        lines.append("")
        lines.append("shardcache's throughput as a multiple of each peer's:")
        lines.append("")
        lines.append("| peer | " + " | ".join(f"{t} thr" for t in threads) + " |")
        lines.append("| --- |" + " ---: |" * len(threads))
        for c in caches:
            if c == "shardcache":
                continue
            row = [f"{ours[t] / data[c][t]:.2f}×" if t in ours and t in data[c] else "" for t in threads]
            lines.append(f"| {c} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def svg(group, data, path):
    threads = sorted({t for per in data.values() for t in per})
    if len(threads) < 2:
        return False
    w, h, m = 560, 340, 60
    ymax = max(v for per in data.values() for v in per.values()) / 1e6
    ymax = max(1.0, ymax * 1.1)
    def px(i):
        return m + (w - 2 * m) * i / (len(threads) - 1)
    def py(v):
        return h - m - (h - 2 * m) * v / ymax
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + 170}" height="{h}" font-family="sans-serif" font-size="11">',
           f'<rect width="{w + 170}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">{group}</text>',
           f'<rect x="{m}" y="{m}" width="{w - 2 * m}" height="{h - 2 * m}" fill="none" stroke="#444"/>']
    for k in range(6):
        v = ymax * k / 5
        out.append(f'<line x1="{m}" x2="{w - m}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{m - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>')
    for i, t in enumerate(threads):
        out.append(f'<text x="{px(i):.1f}" y="{h - m + 16}" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{w / 2}" y="{h - 18}" text-anchor="middle">threads (rayon pool, 2 cores)</text>')
    out.append(f'<text x="16" y="{h / 2}" transform="rotate(-90 16 {h / 2})" text-anchor="middle">Mops/s</text>')
    ly = m
    for c in sorted(data, key=lambda c: (not c.startswith("shardcache"), c)):
        pts = [(i, data[c][t] / 1e6) for i, t in enumerate(threads) if t in data[c]]
        color = COLORS.get(c, "#000")
        out.append('<polyline fill="none" stroke-width="2" stroke="%s" points="%s"/>'
                   % (color, " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in pts)))
        for i, v in pts:
            out.append(f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="2.5" fill="{color}"/>')
        out.append(f'<line x1="{w - 40}" x2="{w - 16}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{w - 10}" y="{ly + 4}">{c}</text>')
        ly += 16
    out.append("</svg>")
    open(path, "w").write("\n".join(out))
    return True


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    img = sys.argv[2] if len(sys.argv) > 2 else "docs/img"
    os.makedirs(img, exist_ok=True)
    results = load(root)
    order = ["read_through_s1.0", "read_through_s0.8", "all_hits_s1.0", "all_hits_s0.8",
             "write_heavy_s1.0", "herd", "async_herd", "hot_hit"]
    for group in sorted(results, key=lambda g: order.index(g) if g in order else 99):
        print(table(group, results[group]))
        path = os.path.join(img, f"bench_{group}.svg")
        if svg(group, results[group], path):
            print(f"\n![{group}](img/bench_{group}.svg)")
        print()


if __name__ == "__main__":
    main()
