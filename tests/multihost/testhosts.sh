#!/usr/bin/env bash
# Simulated MPI hosts on this machine, for the multi-host tests.
#
#   testhosts.sh up N     create hosts spmdk-node1..N: one network namespace each, with its own
#                         address 10.250.77.<i>/24 on interface mpi0 and its own hostname, linked
#                         through a bridge that lives in a namespace of its own (spmdk-br), so the
#                         machine's interfaces, routes and firewall are never touched. There is no
#                         default route: nothing can leave the test hosts.
#   testhosts.sh down     kill what runs in them (by PID), delete them and their leftovers;
#                         safe to run twice.
#   testhosts.sh run HOST CMD...
#                         runs CMD on HOST, as agent.sh (mpirun's remote shell) does.
set -euo pipefail
PREFIX=spmdk-node
BRIDGE_NS=spmdk-br
SUBNET=10.250.77

on_host() { # host, command words: run inside the host's namespace with its own hostname
    local host=$1; shift
    local cmd="$*"
    exec ip netns exec "$host" unshare --uts -- sh -c "hostname $host && exec sh -c \"\$0\"" "$cmd"
}

hosts() { ip netns list | awk '{print $1}' | grep -E "^${PREFIX}[0-9]+$" || true; }

down() {
    for ns in $(hosts) $BRIDGE_NS; do
        if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    rm -rf /etc/netns/${PREFIX}*
    rm -rf /tmp/ompi.${PREFIX}* /dev/shm/vader_segment.${PREFIX}* 2>/dev/null || true
}

up() {
    local n=$1
    down
    ip netns add $BRIDGE_NS
    ip -n $BRIDGE_NS link add br0 type bridge
    ip -n $BRIDGE_NS link set br0 up
    local hosts_lines=""
    for i in $(seq 1 "$n"); do hosts_lines+="$SUBNET.$i ${PREFIX}$i"$'\n'; done
    for i in $(seq 1 "$n"); do
        local ns=${PREFIX}$i
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip link add "veth$i-$$" type veth peer name "mpi0-$$-$i"
        ip link set "veth$i-$$" netns $BRIDGE_NS
        ip link set "mpi0-$$-$i" netns "$ns"
        ip -n $BRIDGE_NS link set "veth$i-$$" master br0 up
        ip -n "$ns" link set "mpi0-$$-$i" name mpi0
        ip -n "$ns" addr add "$SUBNET.$i/24" dev mpi0
        ip -n "$ns" link set mpi0 up
        mkdir -p "/etc/netns/$ns"
        { cat /etc/hosts; printf '%s' "$hosts_lines"; } > "/etc/netns/$ns/hosts"
    done
}

case "${1:-}" in
    up) up "${2:?number of hosts}" ;;
    down) down ;;
    run) shift; host=$1; shift; on_host "$host" "$@" ;;
    *) echo "usage: $0 up N | down | run HOST CMD..." >&2; exit 2 ;;
esac
