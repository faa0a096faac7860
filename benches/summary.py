"""Markdown tables of the CSVs that benches/charts.sh wrote (for the README): scheduling
efficiency, strong scaling, reductions at 8 MiB and 64 MiB, and the model's predictions.
Usage: python3 benches/summary.py [DIR]   (default benches/results; writes DIR/summary.md)
"""
import csv
import glob
import os
import sys

DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")


def rows(pattern):
    out = []
    for path in sorted(glob.glob(os.path.join(DIR, pattern))):
        with open(path) as f:
            out.extend(csv.DictReader(l for l in f if not l.startswith("#")))
    return out


lines = []
sleep = rows("sleep-*.csv")
if sleep:
    policies = list(dict.fromkeys(r["policy"] for r in sleep))
    lines += ["Scheduling efficiency (lower bound / makespan; medians):", "",
              "| tasks | ranks x threads | bound | " + " | ".join(policies) + " |",
              "|---|---|---:|" + "---:|" * len(policies)]
    cases = list(dict.fromkeys((r["workload"], r["ranks"], r["threads"]) for r in sleep))
    for w, p, t in cases:
        mine = {r["policy"]: r for r in sleep if (r["workload"], r["ranks"], r["threads"]) == (w, p, t)}
        cells = [f"{float(mine[x]['efficiency']):.3f} ({float(mine[x]['makespan_s']):.3f} s)"
                 if x in mine else "" for x in policies]
        bound = float(next(iter(mine.values()))["bound_s"])
        lines.append(f"| {w} | {p} x {t} | {bound:.3f} s | " + " | ".join(cells) + " |")
    lines.append("")

matrix = rows("matrix-np*.csv")
if matrix:
    base = min(matrix, key=lambda r: (int(r["workers"]), float(r["total_s"])))
    one = float(base["total_s"]) * int(base["workers"])
    lines += [f"Strong scaling of matrix ({base['count']} x {base['size']}^2; medians; every point "
              f"gave digest {base['digest'][:16]}...):", "",
              "| ranks | threads | workers | total | speed-up | products GFLOP/s |",
              "|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(matrix, key=lambda r: (int(r["ranks"]), int(r["threads"]))):
        if r["digest"] != base["digest"]:
            sys.exit(f"different results in the matrix CSVs: {r['digest']} vs {base['digest']}")
        lines.append(f"| {r['ranks']} | {r['threads']} | {r['workers']} | "
                     f"{float(r['total_s']):.3f} s | {one / float(r['total_s']):.2f} | "
                     f"{float(r['gflops']):.1f} |")
    lines.append("")

reduce = rows("reduce-np*.csv")
if reduce:
    for size, name in [(8388608, "8 MiB"), (67108864, "64 MiB")]:
        at = [r for r in reduce if int(r["bytes"]) == size]
        if not at:
            continue
        lines += [f"Reduction of {name} per rank to rank 0 (slowest rank's average):", "",
                  "| ranks | tree | linear | native | tree / native | linear / tree |",
                  "|---:|---:|---:|---:|---:|---:|"]
        for p in sorted({int(r["ranks"]) for r in at}):
            t = {r["strategy"]: float(r["max_s"]) for r in at if int(r["ranks"]) == p}
            lines.append(f"| {p} | {t['tree'] * 1e3:.2f} ms | {t['linear'] * 1e3:.2f} ms | "
                         f"{t['native'] * 1e3:.2f} ms | {t['tree'] / t['native']:.2f} | "
                         f"{t['linear'] / t['tree']:.2f} |")
        lines.append("")

model = os.path.join(DIR, "model.txt")
if os.path.exists(model):
    text = open(model).read().splitlines()
    fit = next(l for l in text if l.startswith("alpha"))
    lines += [f"Model ({fit}); predicted for 8 MiB per rank:", "",
              "| ranks | tree | linear | linear / tree |", "|---:|---:|---:|---:|"]
    start = text.index(next(l for l in text if l.startswith("predicted")))
    for l in text[start + 2:]:
        p, tree, linear, ratio = l.split()
        if p in {"4", "64", "1024", "65536"}:
            lines.append(f"| {p} | {float(tree) * 1e3:.1f} ms | {float(linear) * 1e3:.1f} ms | {ratio} |")
    lines.append("")

with open(os.path.join(DIR, "summary.md"), "w") as f:
    f.write("\n".join(lines))
print("\n".join(lines))
