/**
 * Loads the addon and declares exactly what it exports. Nothing else in lib/
 * touches the untyped binding.
 */
import * as path from 'path';
import { ErrorCodes, makeError } from './errors';
import { REDUCE_BLOCK, REDUCE_LANES, ReduceKind } from './kernels/reduce_kind';
import type { StateArray, Tensor } from './tensor';

export interface AddonInfo {
  /** The instruction set whose kernels were chosen at load: 'avx512', 'avx2' or 'baseline'. */
  readonly isa: string;
  /** Whether the addon was built with OpenMP. */
  readonly openmp: boolean;
  /** OpenMP's default team size (honours OMP_NUM_THREADS); 1 without OpenMP. */
  readonly defaultThreads: number;
  readonly reduceBlock: number;
  readonly reduceLanes: number;
  readonly updateKernels: ReadonlyArray<NativeKernelRow>;
}

/** A row of the addon's kernel table (native/dispatch/kernel_table.h). */
export interface NativeKernelRow {
  readonly name: string;
  readonly slots: number;
  readonly stateSlots: number;
  /** Scalar names, snake_case, in order. */
  readonly scalars: readonly string[];
  readonly variants: ReadonlyArray<{ param: string; state: string }>;
  /** Slot roles, for kernels that are not params then state (8-bit state). */
  readonly roles?: ReadonlyArray<{ kind: string; size: number }>;
}

/** The raw addon surface (native/addon.cc). */
export interface Addon {
  /** Runs row `kernel` of the kernel table (see nativeKernelIndex). */
  update(kernel: number, buffers: readonly StateArray[], scalars: Float64Array, threads: number): void;
  updateAsync(kernel: number, buffers: readonly StateArray[], scalars: Float64Array, threads: number): Promise<void>;
  /** Resolves and checks `buffers` as update() would, once; holds them weakly (refusing to run once one was collected). */
  createPlan(kernel: number, buffers: readonly StateArray[]): NativePlan;
  /**
   * update() over the buffers of a plan, or of each of an Array of plans (`scalars`: each plan's in
   * turn); refuses (ERR_DETACHED_BUFFER, ERR_SHAPE_MISMATCH) before any runs if a buffer of any was detached or resized since.
   */
  updatePlanned(plans: NativePlan | readonly NativePlan[], scalars: Float64Array, threads: number): void;
  /** reduce() over buffer `slot` (param or grad) of each tensor of a plan or of plans of one dtype, merged in order into `initial`. */
  reducePlanned(plans: NativePlan | readonly NativePlan[], slot: number, kind: ReduceKind, p: number, threads: number, initial: number): number;
  /** The plans of one optimizer step (a non-empty Array), run together by runStep; each distinct ArrayBuffer checked once per run. */
  createStep(plans: readonly NativePlan[]): NativeStep;
  /**
   * updatePlanned over the step's plans; with `clip` ([kind, gradScale, maxNorm, flags]) the norm of their
   * gradients first and the clip coefficient into each kernel's grad_scale, returning the norm (see Backend.runStep).
   */
  runStep(step: NativeStep, scalars: Float64Array, threads: number, clip?: Float64Array): number | undefined;
  reduce(kind: ReduceKind, tensors: readonly Tensor[], p: number, threads: number): number;
  reduceAsync(kind: ReduceKind, tensors: readonly Tensor[], p: number, threads: number): Promise<number>;
  info(): AddonInfo;
  alignmentOffset(buffer: ArrayBuffer, alignment: number): number;
  /**
   * Diagnostic: runs the kernels' work splitting over a fake batch of `elements` and reports the OS threads that ran it.
   * `lateHelperMs` makes every team member but the caller sleep that long before claiming work (a descheduled thread on
   * demand); `paced` runs it under a pacing of its own, as kernels run under theirs (native/drivers/team.h).
   */
  threadProbe(elements: number, threads: number, lateHelperMs?: number, paced?: boolean): ThreadProbeResult;
}

/** An opaque handle made by createPlan (a type-tagged External: nothing else is accepted as one). */
export interface NativePlan {
  readonly __nativePlan: never;
}

/** An opaque handle made by createStep (type-tagged, as a plan is). */
export interface NativeStep {
  readonly __nativeStep: never;
}

/**
 * What threadProbe saw: segments handed out, distinct OS threads that joined the team, the OpenMP team size, whether
 * the caller was one of them, how many segments the caller ran, and whether the segments covered every element once.
 */
export interface ThreadProbeResult {
  readonly segments: number;
  readonly threadsUsed: number;
  readonly team: number;
  readonly callerRan: boolean;
  readonly callerSegments: number;
  readonly covered: boolean;
}

let addon: Addon | null = null;
let loadError: Error | null = null;
let loadedFrom: string | null = null;

/**
 * Where the addon is looked for, in order (names of `bindings` options, or literal path parts):
 * a local build (node-gyp rebuild, in a clone or as the install's fallback) first, then the
 * prebuilt binary the npm package ships for this platform (the layout prebuildify made common,
 * prebuilds/<platform>-<arch>/fusedoptim.node, made by `npm run build:prebuilt` when packing).
 */
const ADDON_LOCATIONS = [
  ['module_root', 'build', 'Release', 'bindings'],
  ['module_root', 'build', 'Debug', 'bindings'],
  ['module_root', 'prebuilds', 'platformArch', 'bindings'],
];

/** How the loaded addon was made: the prebuilt binary of the npm package, or a local build from source. */
export type AddonBuild = 'prebuilt' | 'local';

/** The file the addon was loaded from and how it was made (loads it; throws like loadAddon). */
export function addonOrigin(): { path: string; build: AddonBuild } {
  loadAddon();
  const file = loadedFrom!;
  return { path: file, build: path.basename(path.dirname(path.dirname(file))) === 'prebuilds' ? 'prebuilt' : 'local' };
}

/** What to do about a load failure, by its cause. */
function loadAdvice(message: string): string {
  if (/libgomp/.test(message)) {
    return 'The addon needs the OpenMP runtime, libgomp.so.1: install it (Debian/Ubuntu: apt-get install libgomp1; Fedora/RHEL: dnf install libgomp; Alpine: apk add libgomp)';
  }
  if (/GLIBC|CXXABI/.test(message)) {
    return 'The prebuilt addon needs glibc 2.29 and the C++ runtime of GCC 11 or newer; on an older system build it from source with `npm rebuild fusedoptim` (it needs python3, make and a C++17 compiler)';
  }
  return 'Build it with `npm rebuild fusedoptim` (or `npx node-gyp rebuild` in a clone; it needs python3, make and a C++17 compiler)';
}

function checkInterface(candidate: Addon): void {
  const info = candidate.info();
  if (info.reduceBlock !== REDUCE_BLOCK || info.reduceLanes !== REDUCE_LANES) {
    throw new Error(`the addon's reduction blocks do not match lib/kernels/reduce_kind.ts; rebuild it`);
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
      // bindings finds the package root from this file, whether it runs from lib/ (ts-node) or dist/lib/,
      // and records the file it loaded as `path`. FUSEDOPTIM_ADDON names another build of the same
      // addon to load instead (the sanitizer build: npm run test:sanitize).
      const override = process.env.FUSEDOPTIM_ADDON;
      const candidate = (
        override
          ? Object.assign(require(override) as Addon, { path: override })
          : require('bindings')({
              bindings: 'fusedoptim',
              try: ADDON_LOCATIONS,
              platformArch: `${process.platform}-${process.arch}`,
            })
      ) as Addon & { path: string };
      checkInterface(candidate);
      addon = candidate;
      loadedFrom = candidate.path;
      return addon;
    } catch (err) {
      loadError = err as Error;
    }
  }
  const message = loadError!.message;
  const tried = (loadError as Error & { tries?: string[] }).tries;
  throw makeError(
    ErrorCodes.ADDON_NOT_LOADED,
    `fusedoptim: the native addon could not be loaded (${message.split('\n')[0]}). ${loadAdvice(message)}, ` +
      `or choose the JavaScript kernels with { backend: 'js' }.` +
      (tried ? ` Looked for: ${tried.join(', ')}.` : ''),
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
