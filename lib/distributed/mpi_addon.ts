/**
 * Loads the MPI addon (a local build, build/Release/fusedoptim_mpi.node, made
 * by binding.gyp where mpicxx is found; else the prebuilt one the package
 * ships for Open MPI) and declares exactly what it exports. Nothing else in
 * lib/distributed touches the untyped binding. Only fusedoptim/distributed
 * loads it: the core library never needs MPI.
 */
import { spawnSync } from 'child_process';
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
 * resolves to) a CollectiveOutcome. With compression, `residuals` (one
 * Float32Array per float32 tensor, or none) are the error-feedback buffers.
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

/** A rank a collective waited for, found gone (its process on this machine ended): nothing was communicated. */
export interface RankLost {
  readonly lostRank: number;
  /** Its process id. */
  readonly pid: number;
}

/**
 * What a collective reports: undefined when it ran; every rank's fingerprint, side by side, when
 * they disagreed; a RankLost when a rank is gone. In the last two cases nothing was communicated.
 */
export type CollectiveOutcome = undefined | Float64Array | RankLost;

/** The raw addon surface (native/mpi/addon.cc). */
export interface MpiAddon {
  init(): MpiState;
  finalize(): void;
  barrier(): void;
  abort(code: number): void;
  state(): MpiState;
  collective(...args: CollectiveArgs): CollectiveOutcome;
  collectiveAsync(...args: CollectiveArgs): Promise<CollectiveOutcome>;
  /** Queues a collective for the communication thread (native/mpi/in_flight.h); returns its index in the round. */
  submit(...args: CollectiveArgs): number;
  /** Waits for every submitted collective: undefined, or [index, outcome] of the first that did not communicate. */
  drain(): [number, Exclude<CollectiveOutcome, undefined>] | undefined;
  drainAsync(): Promise<[number, Exclude<CollectiveOutcome, undefined>] | undefined>;
  /** float32 to 16-bit patterns, rounded to nearest even (the compressed all-reduce's rounding). */
  encodeHalf(format: CompressionCode.Bf16 | CompressionCode.Fp16, from: Float32Array, to: Uint16Array): void;
  /** 16-bit patterns to float32, exactly. */
  decodeHalf(format: CompressionCode.Bf16 | CompressionCode.Fp16, from: Uint16Array, to: Float32Array): void;
  /**
   * The instruction set those conversions, and the sums of a compressed all-reduce, run on
   * (native/mpi/half_arrays.h): chosen at load as the core addon's kernels are; FUSEDOPTIM_ISA forces a lower one.
   */
  halfArraysIsa(): 'avx512' | 'avx2' | 'baseline';
}

let addon: MpiAddon | null = null;
/** Each place looked at and why it failed, once the addon failed to load. */
let failures: string[] | null = null;

/**
 * Where the MPI addon is looked for, in order (names of `bindings` options, or literal path parts),
 * as lib/native.ts does for the core addon: a local build first (node-gyp, in a clone, or
 * `npm rebuild fusedoptim` against the MPI installed), then the prebuilt binary the npm package
 * ships, built against Open MPI's stable ABI (libmpi.so.40, which Open MPI 3.0 to 5.x share).
 */
const MPI_ADDON_LOCATIONS = [
  ['module_root', 'build', 'Release', 'bindings'],
  ['module_root', 'build', 'Debug', 'bindings'],
  ['module_root', 'prebuilds', 'platformArch', 'bindings'],
];

/**
 * The MPI addon, loaded on first use; throws ERR_MPI_NOT_AVAILABLE, listing
 * every place it looked and why each failed, and the command that fixes it.
 */
export function loadMpiAddon(): MpiAddon {
  if (addon) return addon;
  if (failures === null) {
    failures = [];
    for (const location of MPI_ADDON_LOCATIONS) {
      let file: string;
      try {
        // bindings finds the package root (from lib/ under ts-node or dist/lib/) and says whether the file is there.
        file = require('bindings')({ bindings: 'fusedoptim_mpi.node', path: true, try: [location], platformArch: `${process.platform}-${process.arch}` });
      } catch (err) {
        const tries = (err as { tries?: string[] }).tries;
        failures.push(tries ? `${tries.join(', ')} (absent)` : firstLine(err));
        continue;
      }
      try {
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
        failures.push(`${file} (${firstLine(err)})`);
      }
    }
  }
  throw makeError(
    ErrorCodes.MPI_NOT_AVAILABLE,
    `fusedoptim/distributed: the MPI addon could not be loaded. Tried: ${failures.join('; ')}. ${mpiRemedy(failures, mpiCompilerAnswers())}`,
  );
}

/**
 * What fixes a failed load, by its cause: `failures` as loadMpiAddon lists them, `compiler` whether
 * an MPI compiler wrapper (mpicxx, or $MPICXX) answers on this machine.
 */
export function mpiRemedy(failures: readonly string[], compiler: boolean): string {
  const build = 'Build it against the MPI installed here: `npm rebuild fusedoptim` (`npx node-gyp rebuild` in a clone)';
  if (failures.some((failure) => /libmpi\.so\.40/.test(failure))) {
    // The prebuilt addon is there, but not Open MPI's library.
    return compiler
      ? `The prebuilt addon needs Open MPI 3 to 5 (libmpi.so.40); another MPI is installed. ${build}`
      : 'The prebuilt addon needs Open MPI (libmpi.so.40). Install it: `apt-get install openmpi-bin` (Fedora/RHEL: `dnf install openmpi`, then `module load mpi/openmpi-x86_64`)';
  }
  if (compiler) return `${build}.`;
  return 'Install MPI and build the addon: `apt-get install openmpi-bin libopenmpi-dev && npm rebuild fusedoptim` (MPICH works too)';
}

/** Whether an MPI compiler wrapper answers: Open MPI's takes --showme:version, MPICH's -show (as scripts/mpi-flags.js asks). */
function mpiCompilerAnswers(): boolean {
  const wrapper = process.env.MPICXX || 'mpicxx';
  return [['--showme:version'], ['-show']].some((args) => spawnSync(wrapper, args, { stdio: 'ignore' }).status === 0);
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

/** The MPI addon if it loads, else null (never throws). */
export function optionalMpiAddon(): MpiAddon | null {
  try {
    return loadMpiAddon();
  } catch {
    return null;
  }
}
