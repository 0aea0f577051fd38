/**
 * Loads the MPI addon (build/Release/fusedoptim_mpi.node, built by binding.gyp
 * only where mpicxx was found) and declares exactly what it exports. Nothing
 * else in lib/distributed touches the untyped binding.
 */
import * as os from 'os';
import { ErrorCodes, makeError } from '../errors';

/** The MPI world as the addon sees it. */
export interface MpiState {
  readonly initialized: boolean;
  readonly finalized: boolean;
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  /** MPI granted MPI_THREAD_SERIALIZED or better: the asynchronous collectives may run on libuv's pool. */
  readonly threadSerialized: boolean;
  readonly mpiVersion: string;
  readonly library: string;
}

/** The collectives the addon runs (native/mpi/collective.h). */
export enum CollectiveKind {
  AllReduce = 0,
  Broadcast = 1,
  ReduceScatter = 2,
  AllGather = 3,
}

export enum ReduceOpCode {
  Sum = 0,
  Mean = 1,
  Max = 2,
}

/** The 16-bit formats an all-reduce of float32 may travel in (native/mpi/half.h). */
export enum CompressionCode {
  None = 0,
  Bf16 = 1,
  Fp16 = 2,
}

/**
 * The arguments of one collective: the tensors of each element type (each
 * type's one flat vector; the Uint16Arrays and Uint8Arrays are bits, only
 * broadcast or all-gathered), and this rank's fingerprint. Returns (or
 * resolves to) undefined when it ran, or every rank's fingerprint, side by
 * side, when they disagreed and nothing was communicated. With compression,
 * `residuals` (one Float32Array per float32 tensor, or none) are the
 * error-feedback buffers.
 */
export type CollectiveArgs = [
  kind: CollectiveKind,
  op: ReduceOpCode,
  root: number,
  deterministic: boolean,
  bucketBytes: number,
  stallSeconds: number,
  f32: readonly Float32Array[],
  f64: readonly Float64Array[],
  u16: readonly Uint16Array[],
  u8: readonly Uint8Array[],
  fingerprint: Float64Array,
  what: string,
  compression: CompressionCode,
  residuals: readonly Float32Array[],
];

/** The raw addon surface (native/mpi/addon.cc). */
export interface MpiAddon {
  init(): MpiState;
  finalize(): void;
  barrier(): void;
  abort(code: number): void;
  state(): MpiState;
  collective(...args: CollectiveArgs): Float64Array | undefined;
  collectiveAsync(...args: CollectiveArgs): Promise<Float64Array | undefined>;
  /** Queues a collective for the communication thread (native/mpi/in_flight.h); returns its index in the round. */
  submit(...args: CollectiveArgs): number;
  /** Waits for every submitted collective: undefined, or [index, fingerprints] of the first whose ranks disagreed. */
  drain(): [number, Float64Array] | undefined;
  drainAsync(): Promise<[number, Float64Array] | undefined>;
  /** float32 to 16-bit patterns, rounded to nearest even (the compressed all-reduce's rounding). */
  encodeHalf(format: CompressionCode.Bf16 | CompressionCode.Fp16, from: Float32Array, to: Uint16Array): void;
  /** 16-bit patterns to float32, exactly. */
  decodeHalf(format: CompressionCode.Bf16 | CompressionCode.Fp16, from: Uint16Array, to: Float32Array): void;
}

let addon: MpiAddon | null = null;
let loadError: Error | null = null;

const HOW_TO_INSTALL =
  'Install MPI (Debian/Ubuntu: `apt-get install openmpi-bin libopenmpi-dev`; MPICH works too), ' +
  'then rebuild the addons: `npm rebuild fusedoptim` (or `npx node-gyp rebuild` in a clone); binding.gyp builds fusedoptim_mpi when `mpicxx` is on the PATH';

/**
 * The MPI addon, loaded on first use; throws ERR_MPI_NOT_AVAILABLE, naming
 * the packages to install and the rebuild command, when it is absent.
 */
export function loadMpiAddon(): MpiAddon {
  if (addon) return addon;
  if (!loadError) {
    try {
      // bindings finds the file (from lib/ under ts-node or dist/lib/); we load it ourselves.
      const file = require('bindings')({ bindings: 'fusedoptim_mpi.node', path: true }) as string;
      const module = { exports: {} as MpiAddon };
      // RTLD_GLOBAL, not require()'s RTLD_LOCAL: Open MPI loads its transports and
      // launchers as plugins (dlopen'ed mca_*.so) that call back into libmpi and
      // libopen-pal without linking them, so libmpi's symbols must be global or
      // MPI_Init fails with "undefined symbol". mpi4py, MPI.jl and Rmpi each load
      // libmpi globally for the same reason.
      process.dlopen(module, file, os.constants.dlopen.RTLD_NOW | os.constants.dlopen.RTLD_GLOBAL);
      addon = module.exports;
      return addon;
    } catch (err) {
      loadError = err as Error;
    }
  }
  throw makeError(
    ErrorCodes.MPI_NOT_AVAILABLE,
    `fusedoptim/distributed: the MPI addon could not be loaded (${loadError!.message.split('\n')[0]}). ${HOW_TO_INSTALL}.`,
  );
}

/** The MPI addon if it loads, else null (never throws). */
export function optionalMpiAddon(): MpiAddon | null {
  try {
    return loadMpiAddon();
  } catch {
    return null;
  }
}
