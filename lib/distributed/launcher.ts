/**
 * What a rank can tell of its launcher from its environment, without initialising MPI: its rank
 * (launcherRank), and what the launcher does when it is told to stop.
 *
 * Open MPI's mpirun (4.x), given SIGINT or SIGTERM, sends every rank SIGCONT, waits
 * odls_base_sigkill_timeout seconds (default 1), sends SIGTERM, waits as long again, then sends
 * SIGKILL; it exits with status 1 whatever the ranks exit with. So a rank has that many seconds
 * between SIGTERM and SIGKILL to stop: finish its step, agree with the others, write its
 * checkpoint and finalize MPI, and MPI_Finalize alone then waits up to 2 s (PMIx's finalize
 * handshake with mpirun, which is asleep in that sequence). The grace is set when mpirun starts:
 * `mpirun --mca odls_base_sigkill_timeout 5`, or OMPI_MCA_odls_base_sigkill_timeout=5 in its
 * environment (mpirun passes both on to the ranks, where this reads them).
 */

/** The grace a stop needs on a loaded machine: MPI_Finalize's 2 s, and time to finish a step and write a checkpoint. */
export const STOP_GRACE_SECONDS = 5;

/** The Open MPI parameter that sets the grace, in seconds. */
export const GRACE_PARAMETER = 'odls_base_sigkill_timeout';

/**
 * Seconds between the SIGTERM and the SIGKILL the launcher sends when stopped, or null when this
 * process was not started by Open MPI's mpirun (another launcher, or none).
 */
export function killGraceSeconds(env: NodeJS.ProcessEnv = process.env): number | null {
  if (env.OMPI_COMM_WORLD_SIZE === undefined) return null;
  const set = Number(env[`OMPI_MCA_${GRACE_PARAMETER}`]);
  return Number.isFinite(set) && set >= 0 ? set : 1;
}

/** The variables launchers set to a process's rank: Open MPI's mpirun, PMIx (Open MPI 5, Slurm's srun --mpi=pmix), MPICH's Hydra. */
const RANK_VARIABLES = ['OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK'] as const;

/**
 * This process's rank as its launcher set it in the environment, or null when it was not started
 * by one (or by one that sets none of RANK_VARIABLES). Read without initialising MPI: what every
 * rank would say alike (a usage mistake) can be said by rank 0 alone before MPI starts.
 */
export function launcherRank(env: NodeJS.ProcessEnv = process.env): number | null {
  for (const name of RANK_VARIABLES) {
    const value = env[name];
    if (value !== undefined && /^\d+$/.test(value)) return Number(value);
  }
  return null;
}
