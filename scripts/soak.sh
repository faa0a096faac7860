#!/usr/bin/env bash
# Soak: the scenarios of the mpirun, MPICH and Slurm tests, launched again and again, to catch
# what fails one run in a hundred (a crash at MPI_Finalize, a signal that lands late). Not part
# of the test suite. Every launch runs under a timeout; the run stops after COUNT rounds or
# MINUTES minutes, whichever comes first; what it starts (the test cluster, jobs) is stopped by
# PID on the way out.
#
#   scripts/soak.sh [--count N] [--minutes M] [--only REGEX] [--local-only | --nodes-only]
#                   [--keep DIR]
#
# COUNT rounds (default 300) of every scenario, but the slow ones: the requeues every 5th round,
# the lost node every 10th.
# Prints, per scenario: launches, failures (an exit code or an outcome other than the one the
# scenario expects), crashes (a process that died of SIGSEGV/SIGBUS/SIGILL/SIGFPE: spmdkit's
# crash report, a launcher's "Segmentation fault", or a new `segfault` line in the kernel log)
# and the first lines of each failure's output (the crash report names the process, its rank
# and pid, and its frames). Logs of failed launches stay in the --keep directory (default: a
# new directory under /tmp, printed at the end).
#
# Scenarios: local-* under Open MPI's mpirun on this machine (np 2-4), mpich-* under MPICH's
# mpiexec (the build in target-mpich/, made by scripts/test.sh; skipped when missing), nodes-*
# on a 3-node Slurm cluster in network namespaces (slurm/testcluster-nodes.sh; needs root):
# srun and mpirun launches of info, matrix, sleep --schedule dynamic and run, the farm stopped
# by a stop file, by SIGUSR1 and by SIGTERM and resumed, requeued by Slurm, and a node lost.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=300
MINUTES=120
ONLY=.
WHERE=all
KEEP=
while [ $# -gt 0 ]; do
    case $1 in
        --count) COUNT=$2; shift 2 ;;
        --minutes) MINUTES=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --local-only) WHERE=local; shift ;;
        --nodes-only) WHERE=nodes; shift ;;
        --keep) KEEP=$2; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "soak: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

source scripts/setup.sh
cargo build --release --bins >&2
BIN=$PWD/target/release/spmdkit
MPICH_BIN=$PWD/target-mpich/release/spmdkit
export OMPI_MCA_mpi_yield_when_idle=1
WORK=$(mktemp -d /tmp/spmdkit-soak.XXXXXX)
chmod 755 "$WORK"  # munged (the cluster's) runs as the munge user
KEEP=${KEEP:-$WORK/failed}
mkdir -p "$KEEP"
CLUSTER=$WORK/cluster
CLUSTER_UP=0
declare -A LAUNCHES FAILURES CRASHES FIRST
SCENARIOS=()

cleanup() {
    local pids
    pids=$(jobs -p || true)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill $pids 2>/dev/null || true
    if [ "$CLUSTER_UP" = 1 ]; then slurm/testcluster-nodes.sh down "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

kernel_segfaults() { dmesg 2>/dev/null | grep -c 'segfault at' || true; }

# Runs one launch of scenario $1: the function scenario_$1 in a directory of its own, its
# output in $dir/log. It returns 0 when the outcome is the expected one.
launch() {
    local name=$1 dir before after status=0
    dir=$WORK/run/$name.${LAUNCHES[$name]:-0}
    rm -rf "$dir"; mkdir -p "$dir"
    before=$(kernel_segfaults)
    (cd "$dir" && "scenario_$name") > "$dir/log" 2>&1 || status=$?
    after=$(kernel_segfaults)
    LAUNCHES[$name]=$(( ${LAUNCHES[$name]:-0} + 1 ))
    local crashed=0
    # The kernel's segfault lines of this launch's time, kept in its log; they count when their
    # pid is one this launch printed (a crash report, the journal's processes): other programs
    # on the machine crash too.
    if [ "$after" -gt "$before" ]; then
        local line pid
        while read -r line; do
            pid=$(echo "$line" | sed -n 's/.*spmdkit\[\([0-9]*\)\].*/\1/p')
            echo "kernel: $line" >> "$dir/log"
            if [ -n "$pid" ] && grep -rqs -e "pid $pid\b" -e "\"pid\":$pid\b" "$dir"; then
                echo "kernel: that pid is this launch's" >> "$dir/log"
            fi
        done < <(dmesg | grep 'segfault at' | tail -n $((after - before)))
    fi
    if grep -qE 'fatal SIG(SEGV|BUS|ILL|FPE)|Segmentation fault|that pid is this launch|Bus error' "$dir/log"; then
        crashed=1
        CRASHES[$name]=$(( ${CRASHES[$name]:-0} + 1 ))
    fi
    if [ "$status" != 0 ] || [ "$crashed" = 1 ]; then
        FAILURES[$name]=$(( ${FAILURES[$name]:-0} + 1 ))
        cp -r "$dir" "$KEEP/$name.${LAUNCHES[$name]}"
        if [ -z "${FIRST[$name]:-}" ]; then
            FIRST[$name]=$(grep -E 'fatal SIG|frame 0|frame 1|addr2line|segfault|expected|error' "$dir/log" | head -8 || true)
            [ -n "${FIRST[$name]}" ] || FIRST[$name]=$(tail -n 8 "$dir/log")
        fi
    fi
    rm -rf "$dir"
}

# signal_after WAIT SIGNAL WANT COMMAND...: starts COMMAND (no `timeout` in front: the signal
# must reach the launcher itself), sends it SIGNAL once WAIT succeeds (a command, retried for
# up to 10 s), and fails unless it then exits WANT; bounded to 120 s by a SIGKILL.
signal_after() {
    local wait_for=$1 signal=$2 want=$3; shift 3
    "$@" & local pid=$!
    ( sleep 120; kill -9 "$pid" 2>/dev/null ) & local killer=$!
    for _ in $(seq 1 200); do eval "$wait_for" && break; sleep 0.05; done
    kill "-$signal" "$pid" 2>/dev/null || true
    local got=0; wait "$pid" || got=$?
    kill "$killer" 2>/dev/null || true; wait "$killer" 2>/dev/null || true
    if [ "$got" != "$want" ]; then echo "soak: expected exit $want after SIG$signal, got $got from: $*"; return 1; fi
}

# expect CODE COMMAND...: runs COMMAND, fails (saying so) unless it exits CODE.
expect() {
    local want=$1 got=0; shift
    "$@" || got=$?
    if [ "$got" != "$want" ]; then echo "soak: expected exit $want, got $got from: $*"; return 1; fi
}

tasks() { local n=$1 cmd=$2; for _ in $(seq 1 "$n"); do echo "$cmd"; done > tasks.txt; }

# Every task ended ok exactly once over the journal, nothing run twice.
journal_exact() {
    local n=$1 journal=$2
    python3 - "$n" "$journal" <<'PY'
import json, sys, collections
n, path = int(sys.argv[1]), sys.argv[2]
ok = collections.Counter()
for line in open(path):
    e = json.loads(line)
    if e["event"] == "finished" and e["kind"] == "ok":
        ok[e["task"]] += 1
bad = {t: c for t, c in ok.items() if c != 1}
missing = [t for t in range(1, n + 1) if t not in ok]
if bad or missing:
    print(f"soak: journal {path}: ok more than once {bad}, never ok {missing}")
    sys.exit(1)
PY
}

MPIRUN=(timeout 120 mpirun --oversubscribe --bind-to none)

# ---- local scenarios (Open MPI mpirun, MPICH mpiexec) -------------------------------------
scenario_local_info_np4() { expect 0 "${MPIRUN[@]}" -np 4 "$BIN" info --json; }
scenario_local_matrix_np3() {
    expect 0 "${MPIRUN[@]}" -np 3 "$BIN" matrix --count 6 --size 200 --seed 5 --json > m.json
    grep -q "\"digest\":\"$MATRIX_DIGEST\"" m.json || { echo "soak: wrong digest"; cat m.json; return 1; }
}
scenario_local_sleep_dynamic_np3() {
    expect 0 "${MPIRUN[@]}" -np 3 "$BIN" sleep --schedule dynamic --durations 0.05,0.02,0.01,0.04,0.03,0.02 --json
}
scenario_local_run_np2() {
    tasks 20 "true"
    expect 0 "${MPIRUN[@]}" -np 2 "$BIN" run --tasks-file tasks.txt --journal j --quiet
    journal_exact 20 j
}
scenario_local_run_stopfile_np3() {
    tasks 12 "sleep 0.3"
    ( sleep 0.6; : > stop ) &
    expect 75 "${MPIRUN[@]}" -np 3 "$BIN" run --tasks-file tasks.txt --journal j --stop-file stop --slots 1 --quiet
    wait; rm -f stop
    expect 0 "${MPIRUN[@]}" -np 3 "$BIN" run --tasks-file tasks.txt --resume j --stop-file stop --slots 1 --quiet
    journal_exact 12 j
}
OMPI=(mpirun --oversubscribe --bind-to none)
started() { grep -q '"started"' j 2>/dev/null; }
scenario_local_run_usr1_np2() {
    tasks 12 "sleep 0.3"
    signal_after started USR1 75 "${OMPI[@]}" -np 2 "$BIN" run --tasks-file tasks.txt --journal j --slots 1 --quiet
    expect 0 "${MPIRUN[@]}" -np 2 "$BIN" run --tasks-file tasks.txt --resume j --slots 1 --quiet
    journal_exact 12 j
}
# Open MPI's mpirun exits 1 on SIGTERM (its own choice); the ranks end their commands at once
# and the journal has every end.
scenario_local_run_term_np2() {
    tasks 12 "sleep 0.3"
    signal_after started TERM 1 "${OMPI[@]}" -np 2 "$BIN" run --tasks-file tasks.txt --journal j --slots 1 --quiet
    expect 0 "${MPIRUN[@]}" -np 2 "$BIN" run --tasks-file tasks.txt --resume j --slots 1 --quiet
    journal_exact 12 j
}
scenario_mpich_info_np2() { expect 0 timeout 120 mpiexec.mpich -n 2 "$MPICH_BIN" info --json; }
scenario_mpich_matrix_np2() {
    expect 0 timeout 120 mpiexec.mpich -n 2 "$MPICH_BIN" matrix --count 6 --size 200 --seed 5 --json > m.json
    grep -q "\"digest\":\"$MATRIX_DIGEST\"" m.json || { echo "soak: wrong digest"; cat m.json; return 1; }
}
scenario_mpich_run_np2() {
    tasks 10 "true"
    expect 0 timeout 120 mpiexec.mpich -n 2 "$MPICH_BIN" run --tasks-file tasks.txt --journal j --quiet
    journal_exact 10 j
}

# ---- 3-node Slurm cluster ------------------------------------------------------------------
SRUN=(timeout 120 srun --mpi=pmix -N 3 --ntasks-per-node=1 --cpus-per-task=1)
scenario_nodes_info_srun() { expect 0 "${SRUN[@]}" "$BIN" info --json; }
scenario_nodes_matrix_srun() {
    expect 0 "${SRUN[@]}" "$BIN" matrix --count 6 --size 200 --seed 5 --json > m.json
    grep -q "\"digest\":\"$MATRIX_DIGEST\"" m.json || { echo "soak: wrong digest"; cat m.json; return 1; }
}
scenario_nodes_sleep_dynamic_srun() {
    expect 0 "${SRUN[@]}" "$BIN" sleep --schedule dynamic --durations 0.05,0.02,0.01,0.04,0.03,0.02 --json
}
scenario_nodes_run_srun() {
    tasks 12 "echo \$SPMDKIT_TASK_ID"
    expect 0 "${SRUN[@]}" "$BIN" run --tasks-file tasks.txt --journal "$PWD/j" --quiet
    journal_exact 12 j
}
scenario_nodes_run_stopfile_srun() {
    tasks 12 "sleep 0.5"
    ( sleep 1.2; : > stop ) &
    expect 75 "${SRUN[@]}" "$BIN" run --tasks-file tasks.txt --journal "$PWD/j" --stop-file "$PWD/stop" --quiet
    wait; rm -f stop
    expect 0 "${SRUN[@]}" "$BIN" run --tasks-file tasks.txt --resume "$PWD/j" --quiet
    journal_exact 12 j
}
scenario_nodes_run_usr1_srun() {
    tasks 12 "sleep 0.5"
    signal_after started USR1 75 srun --mpi=pmix -N 3 --ntasks-per-node=1 --cpus-per-task=1 \
        "$BIN" run --tasks-file tasks.txt --journal "$PWD/j" --quiet
    expect 0 "${SRUN[@]}" "$BIN" run --tasks-file tasks.txt --resume "$PWD/j" --quiet
    journal_exact 12 j
}
# A batch job of slurm/run.sbatch; $1: the launcher; $2: what happens to it (none, requeue).
batch_run() {
    local launcher=$1 event=$2 id state
    tasks 12 "sleep 0.4"
    id=$(SPMDKIT=$BIN TASKS=tasks.txt JOURNAL=$PWD/j SPMDKIT_ARGS="--json --quiet" LAUNCHER=$launcher \
        timeout 60 sbatch --parsable --chdir="$PWD" --nodes=3 --ntasks-per-node=1 --cpus-per-task=1 \
        "$OLDPWD_REPO/slurm/run.sbatch")
    if [ "$event" = requeue ]; then
        for _ in $(seq 1 200); do grep -q '"kind":"ok"' j 2>/dev/null && break; sleep 0.05; done
        timeout 60 scontrol requeue "$id"
    fi
    for _ in $(seq 1 1200); do
        state=$(scontrol show job -o "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
        case $state in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) break ;; esac
        sleep 0.1
    done
    cat spmdkit-run-"$id".err 2>/dev/null || true
    [ "$state" = COMPLETED ] || { echo "soak: job $id ended $state"; scontrol show job -o "$id"; return 1; }
    journal_exact 12 j
}
scenario_nodes_run_sbatch_mpirun() { batch_run mpirun none; }
scenario_nodes_run_requeue_srun() { batch_run srun requeue; }
scenario_nodes_run_requeue_mpirun() { batch_run mpirun requeue; }
# A node lost under a farm started by srun: the step ends (NODE_FAIL or exit), then a resume
# on the nodes left finishes the list, each task ok exactly once.
scenario_nodes_run_lost_node_srun() {
    tasks 16 "sleep 1"
    "${SRUN[@]}" "$BIN" run --tasks-file tasks.txt --journal "$PWD/j" --quiet & local pid=$!
    for _ in $(seq 1 200); do grep -q '"kind":"ok"' j 2>/dev/null && break; sleep 0.05; done
    "$OLDPWD_REPO/slurm/testcluster-nodes.sh" kill-node spmdk-c3
    local got=0; timeout 90 tail --pid="$pid" -f /dev/null || true; wait "$pid" || got=$?
    "$OLDPWD_REPO/slurm/testcluster-nodes.sh" start-node "$CLUSTER" spmdk-c3
    [ "$got" != 0 ] || { echo "soak: the farm exited 0 with a node lost"; return 1; }
    for _ in $(seq 1 150); do sinfo -h -n spmdk-c3 -o %t | grep -q idle && break; sleep 0.2; done
    expect 0 "${SRUN[@]}" "$BIN" run --tasks-file tasks.txt --resume "$PWD/j" --quiet
    journal_exact 16 j
}

OLDPWD_REPO=$PWD
export OLDPWD_REPO
if [ "$WHERE" != nodes ]; then
    SCENARIOS+=(local_info_np4 local_matrix_np3 local_sleep_dynamic_np3 local_run_np2
                local_run_stopfile_np3 local_run_usr1_np2 local_run_term_np2)
    [ -x "$MPICH_BIN" ] && SCENARIOS+=(mpich_info_np2 mpich_matrix_np2 mpich_run_np2)
fi
if [ "$WHERE" != local ]; then
    if [ "$(id -u)" != 0 ]; then echo "soak: the nodes scenarios need root" >&2; exit 2; fi
    slurm/testcluster-nodes.sh up "$CLUSTER" 3 >&2
    CLUSTER_UP=1
    export SLURM_CONF=$CLUSTER/slurm.conf
    SCENARIOS+=(nodes_info_srun nodes_matrix_srun nodes_sleep_dynamic_srun nodes_run_srun
                nodes_run_stopfile_srun nodes_run_usr1_srun nodes_run_sbatch_mpirun
                nodes_run_requeue_srun nodes_run_requeue_mpirun nodes_run_lost_node_srun)
fi
selected=()
for s in "${SCENARIOS[@]}"; do [[ $s =~ $ONLY ]] && selected+=("$s"); done
[ ${#selected[@]} -gt 0 ] || { echo "soak: no scenario matches '$ONLY'" >&2; exit 2; }
# The digest every matrix scenario must give: one rank, no launcher.
MATRIX_DIGEST=$(cd "$WORK" && "$BIN" matrix --count 6 --size 200 --seed 5 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["digest"])')

began=$(date +%s)
deadline=$((began + MINUTES * 60))
for round in $(seq 1 "$COUNT"); do
    for s in "${selected[@]}"; do
        [ "$(date +%s)" -lt "$deadline" ] || break 2
        # The slow ones (a requeue waits ~12 s, a lost node ~30 s): every 5th and 10th round.
        case $s in
            nodes_run_lost_node_srun) [ $((round % 10)) = 1 ] || continue ;;
            nodes_run_requeue_*) [ $((round % 5)) = 1 ] || continue ;;
        esac
        launch "$s"
    done
    if [ $((round % 10)) = 0 ]; then
        echo "soak: round $round done, $(( $(date +%s) - began )) s" >&2
    fi
done

echo
echo "spmdkit soak: $(( ($(date +%s) - began) / 60 )) min, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%F)"
printf '| %-32s | %8s | %8s | %7s |\n' scenario launches failures crashes
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..34})" "----------" "----------" "---------"
for s in "${selected[@]}"; do
    printf '| %-32s | %8s | %8s | %7s |\n' "$s" "${LAUNCHES[$s]:-0}" "${FAILURES[$s]:-0}" "${CRASHES[$s]:-0}"
done
for s in "${selected[@]}"; do
    if [ -n "${FIRST[$s]:-}" ]; then
        echo; echo "first failure of $s:"; echo "${FIRST[$s]}" | sed 's/^/    /'
    fi
done
echo; echo "logs of failed launches: $KEEP"
total=0
for s in "${selected[@]}"; do total=$((total + ${FAILURES[$s]:-0})); done
[ "$total" = 0 ]
