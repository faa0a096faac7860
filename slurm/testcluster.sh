#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for the tests (and for trying the batch
# scripts): munge, slurmctld and slurmd started by hand, no cgroups, state under one directory.
#
#   testcluster.sh up DIR     write DIR/slurm.conf, start the daemons, wait until the node is idle
#   testcluster.sh down DIR   stop the daemons by the PIDs in their pidfiles (munged only if `up`
#                             started it); safe to run twice
#
# Then point the Slurm commands at it: export SLURM_CONF=DIR/slurm.conf
# Needs root, slurm-wlm and munge (Debian: apt-get install slurm-wlm munge).
set -euo pipefail

up() {
    local dir=$1 host
    host=$(hostname -s)
    mkdir -p "$dir/state" "$dir/spool"
    dir=$(cd "$dir" && pwd)
    cat > "$dir/slurm.conf" <<CONF
ClusterName=spmdkit-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
KillOnBadExit=1
EnforcePartLimits=ALL
MinJobAge=3600
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=10 State=UP
CONF
    # munge: a key, and the daemon running as the munge user.
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        su -s /bin/sh munge -c "munged --force"
        for _ in $(seq 1 50); do
            munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
            sleep 0.1
        done
        # Started here, so stopped by `down` (a munged that was already running is left alone).
        cp /run/munge/munged.pid "$dir/munged.pid" 2>/dev/null || pgrep -x munged > "$dir/munged.pid"
    fi
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    for _ in $(seq 1 100); do
        if sinfo -h -o '%t' 2>/dev/null | grep -qx idle; then
            return 0
        fi
        sleep 0.1
    done
    echo "testcluster: the node did not become idle; see $dir/slurmctld.log and $dir/slurmd.log" >&2
    sinfo >&2 || true
    return 1
}

down() {
    local dir=$1
    for daemon in slurmd slurmctld munged; do
        local pidfile=$dir/$daemon.pid
        if [ -s "$pidfile" ]; then
            local pid
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$pidfile"
        fi
    done
}

case "${1:-}" in
    up) up "${2:?state directory}" ;;
    down) down "${2:?state directory}" ;;
    *) echo "usage: $0 up DIR | down DIR" >&2; exit 2 ;;
esac
