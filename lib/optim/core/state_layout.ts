/**
 * The state-layout view, internal (not public API: it changes with the
 * optimizers and their storage): how one param's optimizer state is stored,
 * buffer by buffer, for code that cuts the params into pieces stepped apart.
 * ZeRO stage 1 (lib/distributed/zero.ts) reads it through
 * Optimizer.stateLayout(i), and nothing else of how state is stored.
 *
 * It folds together what the optimizer declares (its state schema, whether
 * its kernel reduces over each whole param) and how `stateDtype` stores the
 * declared moments (../../compact/state_storage.ts: bfloat16, or 8-bit codes
 * with an absmax per block and a code map every param shares).
 */
import { StateDType, Tensor, dtypeOf, lengthOf } from '../../tensor';
import { dependsOnPlace, pieceStorageOptions, storageOf, storedSchema } from '../../compact/state_storage';
import { OptimizerSpec, ParamShape, StateBufferSpec, bufferLength } from './spec';

/**
 * How a stored buffer follows its param's elements, which decides what a piece of the param holds of it:
 *
 *   'element'  one element per param element (a moment, Schedule-Free's z, 8-bit codes): the piece's range
 *   'block'    one per `blockSize` param elements (an 8-bit moment's absmax): the blocks the piece covers
 *   'shared'   one array every param refers to (an 8-bit code map): all of it, on every piece
 *   'whole'    anything else (Adafactor's moments per row and column): nothing a piece could hold
 */
export type BufferPlacement = 'element' | 'block' | 'shared' | 'whole';

/** One buffer of a param's state, as stored. */
export interface StateBufferLayout {
  readonly name: string;
  /** Its element type as stored (bfloat16 in a Uint16Array, 8-bit codes in a Uint8Array). */
  readonly dtype: StateDType;
  /** Its elements, for this param. */
  readonly length: number;
  readonly placement: BufferPlacement;
  /** Param elements per element of a 'block' buffer. */
  readonly blockSize?: number;
}

/** A param's state as stored, and where a cut through the param may fall. */
export interface StateLayout {
  /** Every buffer its state may hold. */
  readonly buffers: readonly StateBufferLayout[];
  /** Its per-param numbers: `step`, then the schema's. */
  readonly numbers: readonly string[];
  /**
   * A cut through the param falls at a multiple of this many elements: 1
   * (anywhere), or a block's (8-bit state, so that each absmax has one owner,
   * who steps its block whole); null where the param cannot be cut at all.
   */
  readonly cutUnit: number | null;
  /** Why the param cannot be cut (null when it can). */
  readonly whyUncut: string | null;
  /** Options over the param's group's under which any piece of it is stored as the whole param is ({} when any piece is). */
  readonly pieceOptions: Readonly<Record<string, unknown>>;
}

/** The layout of `param`'s state in a group of `spec` with validated options `hyper`. */
export function stateLayoutOf<O>(spec: OptimizerSpec<O>, hyper: O, param: Tensor, shape: ParamShape | null): StateLayout {
  const length = lengthOf(param);
  const schema = spec.state(hyper, shape);
  const storage = storageOf(hyper as object, length);
  const buffers = storedSchema(schema, storage).buffers.map((b): StateBufferLayout => {
    const dtype = b.dtype === 'param' ? dtypeOf(param) : b.dtype;
    const placement = placementOf(b);
    return { name: b.name, dtype, length: bufferLength(b, length, shape), placement, ...(placement === 'block' ? { blockSize: b.blockSize } : {}) };
  });
  const whyUncut =
    spec.kernel(hyper, shape).kernel.perTensor === true
      ? `${spec.name}'s step reduces over each whole param (a trust ratio, an RMS)`
      : dependsOnPlace(storage)
        ? "its state is rounded stochastically (stateDtype 'bfloat16', stochasticRounding: true), with random bits from each element's place in the param"
        : wholeBufferReason(buffers);
  return {
    buffers,
    numbers: ['step', ...schema.scalars.map((s) => s.name)],
    cutUnit: whyUncut === null ? buffers.reduce((unit, b) => (b.placement === 'block' ? lcm(unit, b.blockSize!) : unit), 1) : null,
    whyUncut,
    pieceOptions: pieceStorageOptions(storage),
  };
}

function placementOf(b: StateBufferSpec): BufferPlacement {
  if (b.shared !== undefined) return 'shared';
  if (b.blockSize !== undefined) return 'block';
  return b.length !== undefined || b.factor !== undefined ? 'whole' : 'element';
}

function wholeBufferReason(buffers: readonly StateBufferLayout[]): string | null {
  const whole = buffers.find((b) => b.placement === 'whole');
  return whole === undefined ? null : `its state buffer ${whole.name} follows the param's shape, not its elements`;
}

function lcm(a: number, b: number): number {
  let [x, y] = [a, b];
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}
