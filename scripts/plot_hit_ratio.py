#!/usr/bin/env python3
"""Plots hit ratio against capacity, one panel per trace, every policy a line.

Input: the CSV written by `cargo run --release --example hit_ratio -- --curve FILE`
(columns trace,percent,capacity,policy,hit_ratio). Output: one SVG, drawn by
hand (no third-party packages).

    python3 scripts/plot_hit_ratio.py target/hit_ratio_curve.csv docs/img/hit_ratio.svg
"""
import csv
import sys
from collections import defaultdict

COLORS = {
    "OPT": "#222222",
    "LRU": "#999999",
    "sc LRU": "#1f77b4",
    "sc TinyLfu": "#d62728",
    "quick_cache": "#2ca02c",
    "moka": "#ff7f0e",
}
DASH = {"OPT": "4,3", "LRU": "2,2"}


def main(src, dst):
    data = defaultdict(lambda: defaultdict(list))
    for row in csv.DictReader(open(src)):
        data[row["trace"]][row["policy"]].append((int(row["percent"]), float(row["hit_ratio"])))
    traces = list(data)
    panel_w, panel_h, margin = 360, 260, 50
    cols = 2
    rows = (len(traces) + cols - 1) // cols
    width = cols * (panel_w + margin) + margin
    height = rows * (panel_h + margin + 30) + margin + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, trace in enumerate(traces):
        x0 = margin + (i % cols) * (panel_w + margin)
        y0 = margin + (i // cols) * (panel_h + margin + 30)
        out.append(f'<text x="{x0 + panel_w / 2}" y="{y0 - 10}" text-anchor="middle" '
                   f'font-size="13">{trace}</text>')
        out.append(f'<rect x="{x0}" y="{y0}" width="{panel_w}" height="{panel_h}" '
                   f'fill="none" stroke="#444"/>')
        xmax = max(p for pol in data[trace].values() for p, _ in pol)
        ymax = max(10.0, max(v for pol in data[trace].values() for _, v in pol))
        ymax = (int(ymax / 10) + 1) * 10

        def px(p):
            return x0 + panel_w * p / xmax

        def py(v):
            return y0 + panel_h - panel_h * v / ymax

        for t in range(0, ymax + 1, 10 if ymax <= 60 else 20):
            out.append(f'<line x1="{x0}" x2="{x0 + panel_w}" y1="{py(t)}" y2="{py(t)}" stroke="#eee"/>')
            out.append(f'<text x="{x0 - 5}" y="{py(t) + 4}" text-anchor="end">{t}%</text>')
        for p in sorted({p for pol in data[trace].values() for p, _ in pol}):
            if p < 5:
                continue  # too close to its neighbour to label
            out.append(f'<text x="{px(p)}" y="{y0 + panel_h + 14}" text-anchor="middle">{p}%</text>')
        out.append(f'<text x="{x0 + panel_w / 2}" y="{y0 + panel_h + 30}" text-anchor="middle">'
                   f'capacity (% of distinct keys)</text>')
        for policy, points in data[trace].items():
            points.sort()
            path = " ".join(f"{px(p):.1f},{py(v):.1f}" for p, v in points)
            dash = f' stroke-dasharray="{DASH[policy]}"' if policy in DASH else ""
            out.append(f'<polyline points="{path}" fill="none" stroke="{COLORS.get(policy, "#000")}" '
                       f'stroke-width="1.8"{dash}/>')
    # legend
    lx, ly = margin, height - 25
    for policy, color in COLORS.items():
        dash = f' stroke-dasharray="{DASH[policy]}"' if policy in DASH else ""
        out.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly}" y2="{ly}" stroke="{color}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 30}" y="{ly + 4}">{policy}</text>')
        lx += 40 + 8 * len(policy) + 20
    out.append("</svg>")
    open(dst, "w").write("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
