/**
 * The MPI world of this process: init() and finalize(), this process's rank,
 * the world size, its rank on its machine, barrier(), and the settings the
 * collectives share (bucket size, stall warning delay).
 *
 * At process exit, finalize() runs by itself after a clean exit; after a
 * failure (exit code ≠ 0, an uncaught exception) the job is aborted instead
 * (MPI_Abort): the other ranks would otherwise wait forever in their next
 * collective. mpirun then stops every rank, and the last checkpoint, written
 * atomically, stays intact. A rank that called finalize() itself (every rank
 * agreed to stop: `fusedoptim train` after Ctrl-C) exits with its own code and
 * aborts nothing. Once a rank was found gone (ERR_RANK_LOST, native/mpi/world.h),
 * neither the abort nor finalize() waits for it: mpirun is ending the job.
 */
import { ErrorCodes, makeError } from '../errors';
import { writeSync } from 'fs';
import { inspect } from 'util';
import { checkNumber, checkOptions } from '../validate';
import { MpiAddon, MpiState, loadMpiAddon } from './mpi_addon';

/** The options of init(). */
export interface InitOptions {
  /**
   * Largest bucket many small tensors are packed into for one MPI call, in
   * bytes. Default 4 MiB (measured: docs/performance.md, "Distributed training").
   */
  bucketBytes?: number;
  /** Seconds a rank waits for the others in a collective before it warns, naming the missing ranks (again every as many seconds). Default 60; 0 never warns. */
  stallWarningSeconds?: number;
}

export interface Settings {
  bucketBytes: number;
  stallWarningSeconds: number;
}

export const DEFAULT_BUCKET_BYTES = 4 * 1024 * 1024;

const settings: Settings = { bucketBytes: DEFAULT_BUCKET_BYTES, stallWarningSeconds: 60 };
let state: MpiState | null = null;

function checkInitOptions(options: unknown): Partial<Settings> {
  if (options === undefined) return {};
  const opts = checkOptions('init: options', options, ['bucketBytes', 'stallWarningSeconds']);
  const out: Partial<Settings> = {};
  if (opts.bucketBytes !== undefined) {
    out.bucketBytes = checkNumber('init: options.bucketBytes', opts.bucketBytes, { integer: true, min: 64, max: 2 ** 30 });
  }
  if (opts.stallWarningSeconds !== undefined) {
    out.stallWarningSeconds = checkNumber('init: options.stallWarningSeconds', opts.stallWarningSeconds, { min: 0 });
  }
  return out;
}

/**
 * Initialises MPI (MPI_Init_thread at MPI_THREAD_SERIALIZED, so that the
 * asynchronous collectives may run on libuv's pool). Call it once in each
 * process started by mpirun; later calls only apply `options`. Without mpirun
 * it gives a world of one process.
 */
export function init(options?: InitOptions): void {
  const checked = checkInitOptions(options);
  const mpi = loadMpiAddon();
  if (state === null) {
    state = mpi.init();
    process.on('uncaughtExceptionMonitor', printFatal);
    process.on('exit', (code) => {
      if (code === 0) finalize();
      else mpi.abort(code & 0xff || 1);
    });
  }
  Object.assign(settings, checked);
}

/**
 * Prints an error that is about to end this rank, each line prefixed with the
 * rank, synchronously: the exit handler's MPI_Abort ends the process before
 * Node would print it, and with several ranks writing, the prefix says whose
 * it is. Nothing when the program handles such errors itself (an
 * 'uncaughtException' listener, or an 'unhandledRejection' one for rejections).
 */
function printFatal(err: unknown, origin: NodeJS.UncaughtExceptionOrigin): void {
  if (process.listenerCount(origin === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException') > 0) return;
  const prefix = `[rank ${state?.rank ?? '?'}] `;
  // inspect, as Node's own report does: the stack, and an error's own fields (its code) after it.
  const text = inspect(err);
  const what = origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception';
  const lines = `${what}: ${text}`.split('\n').map((line) => prefix + line);
  writeSync(2, lines.join('\n') + '\n');
}

/** The addon and its state, or ERR_MPI_NOT_INITIALIZED naming `what` before init() or after finalize(). */
export function initialized(what: string): { mpi: MpiAddon; state: MpiState } {
  if (state === null || !state.initialized) {
    throw makeError(
      ErrorCodes.MPI_NOT_INITIALIZED,
      `fusedoptim/distributed: ${what}: ${state === null ? 'MPI is not initialised; call init() first' : 'MPI was finalized'}`,
    );
  }
  return { mpi: loadMpiAddon(), state };
}

/** True between init() and finalize(). */
export function isInitialized(): boolean {
  return state !== null && state.initialized;
}

/** This process's rank in the world, 0 ≤ rank() < size(). */
export function rank(): number {
  return initialized('rank').state.rank;
}

/** The number of processes in the world. */
export function size(): number {
  return initialized('size').state.size;
}

/** This process's rank among those on its machine (to pick a device or a core set). */
export function localRank(): number {
  return initialized('localRank').state.localRank;
}

/** The number of processes on this machine. */
export function localSize(): number {
  return initialized('localSize').state.localSize;
}

/** Waits until every rank has called barrier(). */
export function barrier(): void {
  initialized('barrier').mpi.barrier();
}

/**
 * Finalises MPI (it waits for every rank's finalize). Runs at a clean exit by
 * itself; afterwards the collectives throw ERR_MPI_NOT_INITIALIZED.
 */
export function finalize(): void {
  if (state === null || !state.initialized) return;
  const mpi = loadMpiAddon();
  mpi.finalize();
  state = mpi.state();
}

/** The collectives' settings (read-only copy). */
export function currentSettings(): Readonly<Settings> {
  return { ...settings };
}
