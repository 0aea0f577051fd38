#!/bin/sh
# Open MPI's remote launcher for the two hosts (test/hosts/, bench/mpi_hosts.ts), in the place of ssh
# (--mca plm_rsh_agent): mpirun calls it as it would call ssh,
#   netns-agent.sh <host> orted <arguments...>
# and it runs the command on that "host": in the host's network namespace, and
# in a UTS namespace of its own where the hostname is the host's name (so the
# daemon there has its own node name and its own session directory under /tmp).
#
# The hosts are named by FUSEDOPTIM_NETNS_HOSTS, "host=namespace" pairs
# separated by spaces, which the test (or the bench) sets in mpirun's environment.
#
# The command words are joined and parsed again by a shell, as sshd does with
# what ssh sends: Open MPI quotes parts of the orted command line (its contact
# URI holds ';') for that shell. The environment is emptied but for PATH and
# HOME, as a fresh ssh login's would be: the ranks on the other host get only
# what mpirun itself passes on, as they would on another machine.
set -eu
host=$1
shift
ns=
for pair in ${FUSEDOPTIM_NETNS_HOSTS:-}; do
  if [ "${pair%%=*}" = "$host" ]; then ns=${pair#*=}; fi
done
if [ -z "$ns" ]; then
  echo "netns-agent.sh: no namespace for host '$host' in FUSEDOPTIM_NETNS_HOSTS='${FUSEDOPTIM_NETNS_HOSTS:-}'" >&2
  exit 255
fi
exec env -i PATH="$PATH" HOME="${HOME:-/}" \
  ip netns exec "$ns" unshare --uts sh -c 'hostname "$0" && exec sh -c "$1"' "$host" "$*"
