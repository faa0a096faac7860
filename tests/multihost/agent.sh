#!/bin/sh
# mpirun's remote shell for the simulated hosts (in place of ssh): agent.sh HOST CMD...
# Like ssh, joins the words of CMD and runs them with sh -c, inside HOST's network namespace and
# with HOST as the hostname (ranks on different "hosts" must not share shared-memory names).
host=$1
shift
exec ip netns exec "$host" unshare --uts -- sh -c 'hostname "$1" && exec sh -c "$2"' agent "$host" "$*"
