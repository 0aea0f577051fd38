/**
 * fusedoptim/distributed: data-parallel training on MPI. Start N copies of a
 * script with `mpirun -np N`; each calls init(), wraps its optimizer in a
 * DistributedOptimizer and trains on its shard of the data (shardBatches).
 * Needs the MPI addon (built where `mpicxx` is found); without it, init() and
 * every collective throw ERR_MPI_NOT_AVAILABLE saying what to install.
 */
export { init, finalize, rank, size, localRank, localSize, barrier, isInitialized } from './world';
export type { InitOptions } from './world';
export { allReduce, allReduceAsync, broadcast, broadcastAsync, reduceScatter, reduceScatterAsync, allGather, allGatherAsync } from './collectives';
export type { Compression, ReduceOp, ReduceOptions } from './collectives';
export { DistributedOptimizer } from './optimizer';
export type { DistributedOptions, DistributedStepResult } from './optimizer';
export type { ErrorFeedbackState } from '../train/checkpoint';
export { shardBatches, shardRange } from './shard';
