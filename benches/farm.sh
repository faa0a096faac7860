#!/usr/bin/env bash
# The command farm against the tools people use for it, on the same machine, with the same
# number of slots, alternating, every run's outputs checked:
#   1. TASKS commands `true` (default 10 000): `spmdkit run` with its journal, `xargs -P` (no log
#      at all) and GNU parallel with --joblog; tasks/s, and spmdkit's delay from a slot becoming
#      free to its next command starting (p50, p99, from the journal);
#   2. the classic 16 durations as `sleep` commands on 4 slots: dynamic (id order) against
#      --schedule lpt --costs-from the first run's journal.
# Usage: benches/farm.sh [RUNS] [TASKS]   (build first: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
TASKS=${2:-10000}
SLOTS=2
source scripts/setup.sh >/dev/null
install_missing_packages parallel
BIN=$PWD/target/release/spmdkit
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
for _ in $(seq 1 "$TASKS"); do echo true; done > true.txt
: > times.csv

timed() { # NAME COMMAND...: appends NAME,seconds to times.csv
    local name=$1; shift
    local t0=$EPOCHREALTIME
    "$@"
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v n="$name" 'BEGIN { printf "%s,%.6f\n", n, b - a }' >> times.csv
}

for run in $(seq 1 "$RUNS"); do
    rm -f j.journal joblog
    timed spmdkit "$BIN" run --tasks-file true.txt --slots $SLOTS --journal j.journal --quiet --json > report.json
    python3 - "$TASKS" <<'PY'
import json, sys
n = int(sys.argv[1]); r = json.load(open("report.json"))
assert r["ok"] == n and not r["failed"], "spmdkit: every command must succeed"
ok = sum(1 for l in open("j.journal") if '"event":"finished"' in l and '"kind":"ok"' in l)
assert ok == n, f"journal has {ok} ok ends"
PY
    cp j.journal "j$run.journal"
    # xargs -P: one `sh -c` per line, like the others.
    timed xargs-P bash -c "tr '\n' '\0' < true.txt | xargs -0 -P $SLOTS -n 1 sh -c"
    timed parallel parallel -j $SLOTS --joblog joblog < true.txt
    ok=$(awk 'NR > 1 && $7 == 0' joblog | wc -l)
    [ "$ok" -eq "$TASKS" ] || { echo "parallel: $ok of $TASKS ok in its joblog"; exit 1; }
done

python3 - "$TASKS" "$RUNS" <<'PY'
import csv, json, statistics, sys, glob
n, runs = int(sys.argv[1]), int(sys.argv[2])
t = {}
for name, s in csv.reader(open("times.csv")):
    t.setdefault(name, []).append(float(s))
med = {k: statistics.median(v) for k, v in t.items()}
rate = {k: n / v for k, v in med.items()}
delays = []
for path in glob.glob("j*.journal"):
    if path == "j.journal":
        continue
    starts, ends = {}, {}
    for line in open(path):
        r = json.loads(line)
        if r["event"] == "started":
            starts[r["task"]] = (r["rank"], r["slot"], r["time"])
        elif r["event"] == "finished":
            ends[r["task"]] = r["wall_s"]
    by_slot = {}
    for task, (rank, slot, time) in starts.items():
        by_slot.setdefault((rank, slot), []).append((time, task))
    for seq in by_slot.values():
        seq.sort()
        for (t0, a), (t1, _) in zip(seq, seq[1:]):
            delays.append(t1 - (t0 + ends[a]))
delays.sort()
p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1e3
print(f"| {n} x true, {2} slots, medians of {runs} alternating runs | seconds | tasks/s | spmdkit / it |")
print("|---|---|---|---|")
for k, label in [("spmdkit", "spmdkit run (journal on)"), ("xargs-P", "xargs -P 2 -n 1 sh -c (no log)"), ("parallel", "GNU parallel -j 2 --joblog")]:
    print(f"| {label} | {med[k]:.2f} | {rate[k]:.0f} | {rate['spmdkit'] / rate[k]:.2f} |")
print(f"\nspmdkit: delay from a slot becoming free to its next command starting: p50 {p(0.5):.3f} ms, p99 {p(0.99):.3f} ms")
PY

# The classic 16 durations as sleep commands, 4 slots: id order, then longest first from the
# journal of the first run.
printf 'sleep %s\n' 0.1 0.2 0.1 0.5 0.7 0.9 0.5 0.4 1.5 1.3 1.0 0.3 0.7 0.6 0.3 0.8 > classic.txt
rm -f first.journal
"$BIN" run --tasks-file classic.txt --slots 4 --journal first.journal --quiet > /dev/null
: > classic.csv
for run in $(seq 1 "$RUNS"); do
    rm -f d.journal l.journal
    "$BIN" run --tasks-file classic.txt --slots 4 --journal d.journal --quiet --json | python3 -c "import json,sys; r=json.load(sys.stdin); assert r['ok']==16; print('dynamic', r['wall_s'])" >> classic.csv
    "$BIN" run --tasks-file classic.txt --slots 4 --journal l.journal --schedule lpt --costs-from first.journal --quiet --json | python3 -c "import json,sys; r=json.load(sys.stdin); assert r['ok']==16; print('lpt', r['wall_s'])" >> classic.csv
done
python3 - "$RUNS" <<'PY'
import statistics, sys
w = {}
for line in open("classic.csv"):
    k, v = line.split(); w.setdefault(k, []).append(float(v))
d, l = statistics.median(w["dynamic"]), statistics.median(w["lpt"])
print(f"\nclassic 16 sleeps (9.9 s, ideal on 4 slots 2.475 s), medians of {sys.argv[1]}: dynamic {d:.3f} s, "
      f"lpt --costs-from {l:.3f} s (lpt / dynamic {l / d:.2f})")
PY
