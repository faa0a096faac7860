#!/usr/bin/env bash
# A real multi-node Slurm cluster on this machine, for the tests (and for trying the batch
# scripts across nodes): a head and N compute nodes, each in its own network namespace with its
# own address and hostname, linked by a bridge that lives in a namespace of its own. This
# machine's own shell is the login node: it reaches the cluster over one veth, and sbatch,
# srun, scontrol and sinfo run there. Nothing leaves the machine (no default route anywhere).
#
#   testcluster-nodes.sh up DIR [N]       write DIR/slurm.conf, start munged and slurmctld on
#                                         the head and slurmd on nodes 1..N (default 3), wait
#                                         until every node is idle
#   testcluster-nodes.sh down [DIR]       stop everything by PID (what runs in the cluster's
#                                         namespaces), delete the namespaces; safe to run twice,
#                                         also without DIR or after a crash
#   testcluster-nodes.sh kill-node NODE   unplug NODE, then SIGKILL all its processes (a power cut)
#   testcluster-nodes.sh start-node DIR NODE
#                                         start NODE's slurmd again, on a clean spool (a reboot)
#   testcluster-nodes.sh run DIR NODE CMD...
#                                         run CMD on NODE (its network, hostname and /etc/hosts)
#   testcluster-nodes.sh pids NODE        the PIDs running on NODE
#
# Then point the Slurm commands at it: export SLURM_CONF=DIR/slurm.conf
# Names: namespaces and hosts spmdk-head, spmdk-c1..N, bridge spmdk-cbr, subnet 10.250.78.0/24
# (the head .250, the login .254), so it can run beside the multi-host test's hosts
# (spmdk-node*, 10.250.77.0/24) and beside the single-node cluster of testcluster.sh.
# Needs root, slurm-wlm, munge, iproute2 and util-linux (nsenter, unshare).
set -euo pipefail
HEAD=spmdk-head
NODE=spmdk-c
BRIDGE_NS=spmdk-cbr
LOGIN_IF=spmdk-clogin
SUBNET=10.250.78

namespaces() { ip netns list | awk '{print $1}' | grep -E "^(${HEAD}|${NODE}[0-9]+|${BRIDGE_NS})$" || true; }

# Runs a command as host NS: its network, its own hostname and /etc/hosts (`ip netns exec` would
# remount /sys and hide the cgroup tree, which slurmd refuses to start without).
on_host() {
    local dir=$1 ns=$2; shift 2
    nsenter --net="/run/netns/$ns" -- unshare --uts --mount --propagation slave -- \
        sh -c 'mount --bind "$0" /etc/hosts && hostname "$1" && shift && exec "$@"' \
        "$dir/hosts" "$ns" "$@"
}

# Waits until none of the PIDs is running (a zombie counts as gone: reaping can be late here).
wait_gone() {
    local pid
    for _ in $(seq 1 50); do
        local left=0
        for pid in "$@"; do
            if [ -e "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
                left=1
            fi
        done
        [ "$left" = 0 ] && return 0
        sleep 0.1
    done
    return 1
}

node_pids() { ip netns pids "$1" 2>/dev/null || true; }

kill_node() {
    local ns=$1 pids
    # The cable first: a machine that loses power sends nothing, so no peer may see its sockets
    # closed (a killed process's FIN or RST would end MPI jobs at once, before Slurm notices).
    ip -n $BRIDGE_NS link set "p-$ns" down 2>/dev/null || true
    pids=$(node_pids "$ns")
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    # shellcheck disable=SC2086
    wait_gone $pids || true
}

down() {
    local dir=${1:-} ns pids
    # Daemons first, politely (slurmctld saves its state), then whatever is left, by PID.
    for ns in $(namespaces); do
        pids=$(node_pids "$ns")
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill $pids 2>/dev/null || true
    done
    for ns in $(namespaces); do
        pids=$(node_pids "$ns")
        # shellcheck disable=SC2086
        [ -z "$pids" ] || wait_gone $pids || kill_node "$ns"
        ip netns del "$ns" 2>/dev/null || true
    done
    ip link del "$LOGIN_IF" 2>/dev/null || true
    rm -rf /tmp/ompi.${NODE}* /dev/shm/vader_segment.${NODE}* 2>/dev/null || true
    if [ -n "$dir" ] && [ -d "$dir" ]; then
        rm -f "$dir"/*.pid "$dir"/nodes/*/*.pid
    fi
}

# A node's spool and TmpFS, emptied: a restarted node must not find its last job's step sockets.
clean_node_dirs() {
    local dir=$1 ns=$2
    rm -rf "$dir/nodes/$ns"
    mkdir -p "$dir/nodes/$ns/spool" "$dir/nodes/$ns/tmp"
}

start_slurmd() {
    local dir=$1 ns=$2
    clean_node_dirs "$dir" "$ns"
    on_host "$dir" "$ns" slurmd -f "$dir/slurm.conf" -N "$ns"
}

wait_idle() {
    local want=$1
    for _ in $(seq 1 150); do
        if [ "$(sinfo -h -N -o '%N %t' 2>/dev/null | awk '$2 == "idle"' | sort -u | wc -l)" -ge "$want" ]; then
            return 0
        fi
        sleep 0.1
    done
    echo "testcluster-nodes: the nodes did not become idle; see $SLURM_CONF's log files" >&2
    sinfo -N >&2 || true
    return 1
}

up() {
    local dir=$1 n=$2 i ns
    down
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    rm -rf "$dir/state" "$dir/nodes" "$dir/munge"
    mkdir -p "$dir/state" "$dir/nodes" "$dir/munge"

    # The network: a bridge in its own namespace, one veth per host, one for this shell.
    ip netns add $BRIDGE_NS
    ip -n $BRIDGE_NS link add br0 type bridge
    ip -n $BRIDGE_NS link set br0 up
    local hosts_lines="$SUBNET.250 $HEAD"$'\n'
    for i in $(seq 1 "$n"); do hosts_lines+="$SUBNET.$i $NODE$i"$'\n'; done
    { grep -v -E "\s(${HEAD}|${NODE}[0-9]+)$" /etc/hosts || true; printf '%s' "$hosts_lines"; } > "$dir/hosts"
    attach() { # namespace, address
        local ns=$1 addr=$2
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip link add "spc-$$" type veth peer name "spe-$$"
        ip link set "spc-$$" netns $BRIDGE_NS
        ip -n $BRIDGE_NS link set "spc-$$" name "p-$ns"
        ip -n $BRIDGE_NS link set "p-$ns" master br0 up
        ip link set "spe-$$" netns "$ns"
        ip -n "$ns" link set "spe-$$" name eth0
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 || true
    }
    attach $HEAD $SUBNET.250
    for i in $(seq 1 "$n"); do attach "$NODE$i" "$SUBNET.$i"; done
    ip link add "$LOGIN_IF" type veth peer name "spl-$$"
    ip link set "spl-$$" netns $BRIDGE_NS
    ip -n $BRIDGE_NS link set "spl-$$" name p-login
    ip -n $BRIDGE_NS link set p-login master br0 up
    ip addr add "$SUBNET.254/24" dev "$LOGIN_IF"
    ip link set "$LOGIN_IF" up

    cat > "$dir/slurm.conf" <<CONF
ClusterName=spmdkit-nodes
SlurmctldHost=$HEAD($SUBNET.250)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
StateSaveLocation=$dir/state
SlurmctldPidFile=$dir/slurmctld.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdSpoolDir=$dir/nodes/%n/spool
SlurmdPidFile=$dir/nodes/%n/slurmd.pid
SlurmdLogFile=$dir/nodes/%n/slurmd.log
TmpFS=$dir/nodes/%n/tmp
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
KillOnBadExit=1
EnforcePartLimits=ALL
SchedulerParameters=sched_interval=2,bf_interval=2
ReturnToService=2
SlurmdTimeout=10
MessageTimeout=10
KillWait=5
JobRequeue=1
MinJobAge=3600
MailProg=/bin/true
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
SlurmdParameters=config_overrides
NodeName=${NODE}[1-$n] NodeAddr=$SUBNET.[1-$n] CPUs=4 State=UNKNOWN
PartitionName=nodes Nodes=ALL Default=YES MaxTime=10 State=UP
CONF

    # munge, on the head, with a key and a socket of this cluster's own.
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chown -R munge:munge "$dir/munge"
    chmod 0755 "$dir/munge"
    chmod 0400 "$dir/munge/munge.key"
    local munge_args=(--force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key"
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log"
        --seed-file="$dir/munge/munged.seed")
    on_host "$dir" $HEAD setpriv --reuid=munge --regid=munge --clear-groups munged "${munge_args[@]}"
    for _ in $(seq 1 50); do
        munge -S "$dir/munge/munge.socket" -n 2>/dev/null | unmunge -S "$dir/munge/munge.socket" >/dev/null 2>&1 && break
        sleep 0.1
    done

    export SLURM_CONF=$dir/slurm.conf
    on_host "$dir" $HEAD slurmctld -f "$SLURM_CONF"
    for i in $(seq 1 "$n"); do start_slurmd "$dir" "$NODE$i"; done
    wait_idle "$n"
}

start_node() {
    local dir=$1 ns=$2
    dir=$(cd "$dir" && pwd)
    export SLURM_CONF=$dir/slurm.conf
    kill_node "$ns"
    ip -n $BRIDGE_NS link set "p-$ns" up
    start_slurmd "$dir" "$ns"
}

case "${1:-}" in
    up) up "${2:?state directory}" "${3:-3}" ;;
    down) down "${2:-}" ;;
    kill-node) kill_node "${2:?node}" ;;
    start-node) start_node "${2:?state directory}" "${3:?node}" ;;
    run) shift; dir=${1:?state directory}; ns=${2:?node}; shift 2; on_host "$dir" "$ns" "$@" ;;
    pids) node_pids "${2:?node}" ;;
    *) echo "usage: $0 up DIR [N] | down [DIR] | kill-node NODE | start-node DIR NODE | run DIR NODE CMD... | pids NODE" >&2; exit 2 ;;
esac
