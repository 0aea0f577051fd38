/**
 * Loads the addon and declares exactly what it exports. Nothing else in lib/
 * touches the untyped binding.
 */
import { ErrorCodes, makeError } from './errors';
import { REDUCE_BLOCK, REDUCE_LANES, UPDATE_KERNELS, UpdateKind, ReduceKind } from './kernels';
import type { Tensor } from './tensor';

export interface AddonInfo {
  /** The instruction set whose kernels were chosen at load: 'avx512', 'avx2' or 'baseline'. */
  readonly isa: string;
  /** Whether the addon was built with OpenMP. */
  readonly openmp: boolean;
  /** OpenMP's default team size (honours OMP_NUM_THREADS); 1 without OpenMP. */
  readonly defaultThreads: number;
  readonly reduceBlock: number;
  readonly reduceLanes: number;
  readonly updateKernels: ReadonlyArray<{ name: string; slots: number; scalarCount: number }>;
}

/** The raw addon surface (native/addon.cc). */
export interface Addon {
  update(kind: UpdateKind, buffers: readonly Tensor[], scalars: Float64Array, threads: number): void;
  updateAsync(kind: UpdateKind, buffers: readonly Tensor[], scalars: Float64Array, threads: number): Promise<void>;
  /** Resolves and checks `buffers` as update() would, once; keeps them alive until the plan is collected. */
  createPlan(kind: UpdateKind, buffers: readonly Tensor[]): NativePlan;
  /** update() over a plan's buffers; refuses (ERR_DETACHED_BUFFER, ERR_SHAPE_MISMATCH) if one was detached or resized since. */
  updatePlanned(plan: NativePlan, scalars: Float64Array, threads: number): void;
  reduce(kind: ReduceKind, tensors: readonly Tensor[], p: number, threads: number): number;
  reduceAsync(kind: ReduceKind, tensors: readonly Tensor[], p: number, threads: number): Promise<number>;
  info(): AddonInfo;
  alignmentOffset(buffer: ArrayBuffer, alignment: number): number;
  /** Diagnostic: runs the kernels' work splitting over a fake batch of `elements` and reports the OS threads that ran it. */
  threadProbe(elements: number, threads: number): ThreadProbeResult;
}

/** An opaque handle made by createPlan (a type-tagged External: nothing else is accepted as one). */
export interface NativePlan {
  readonly __nativePlan: never;
}

/** What threadProbe saw: segments handed out, distinct OS threads that ran them, the OpenMP team size, and whether the caller was one of them. */
export interface ThreadProbeResult {
  readonly segments: number;
  readonly threadsUsed: number;
  readonly team: number;
  readonly callerRan: boolean;
}

let addon: Addon | null = null;
let loadError: Error | null = null;

function checkInterface(candidate: Addon): void {
  const info = candidate.info();
  const mismatch = (what: string): never => {
    throw new Error(`the addon's kernel table does not match lib/kernels.ts (${what}); rebuild it`);
  };
  if (info.reduceBlock !== REDUCE_BLOCK || info.reduceLanes !== REDUCE_LANES) mismatch('reduction blocks');
  const expected = Object.entries(UPDATE_KERNELS);
  if (info.updateKernels.length !== expected.length) mismatch('kernel count');
  for (const [kind, shape] of expected) {
    const row = info.updateKernels[Number(kind)];
    if (!row || row.name !== shape.name || row.slots !== shape.slots || row.scalarCount !== shape.scalarCount) {
      mismatch(`kernel ${kind} (${shape.name})`);
    }
  }
}

/**
 * The addon, loaded on first use. Throws ERR_ADDON_NOT_LOADED, with the cause
 * and the command that builds it, when it cannot be loaded: there is no silent
 * fallback to the JavaScript kernels (ask for `backend: 'js'` explicitly).
 */
export function loadAddon(): Addon {
  if (addon) return addon;
  if (!loadError) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      // bindings finds the package root from this file, whether it runs from lib/ (ts-node) or dist/lib/.
      const candidate = require('bindings')('fusedoptim') as Addon;
      checkInterface(candidate);
      addon = candidate;
      return addon;
    } catch (err) {
      loadError = err as Error;
    }
  }
  throw makeError(
    ErrorCodes.ADDON_NOT_LOADED,
    `fusedoptim: the native addon could not be loaded (${loadError!.message.split('\n')[0]}). ` +
      `Build it with \`npm rebuild fusedoptim\` (or \`npx node-gyp rebuild\` in a clone; it needs python3, make and a C++17 compiler), ` +
      `or choose the JavaScript kernels with { backend: 'js' }.`,
  );
}

/** The addon if it loads, else null (never throws). */
export function optionalAddon(): Addon | null {
  try {
    return loadAddon();
  } catch {
    return null;
  }
}
