/**
 * Where ZeRO-1 (./zero.ts) cuts the params into the ranks' shards.
 *
 * Each element type's params, laid end to end in param order, form one flat
 * vector, cut where shardRange cuts it; except that a cut inside a param
 * whose state allows cuts only at multiples of a unit (its state-layout
 * view's cutUnit: an 8-bit param's state has one absmax per block of 256
 * elements) moves back to the last such multiple, so that each block, and its
 * absmax, has one owner, who steps it whole, as the unsharded optimizer does.
 *
 * The collectives cut a flat vector evenly (shardRange). When a cut moved,
 * the lists handed to them are laid out so that their even cut is this one:
 * each rank's range of the params as views, followed by a pad up to the
 * longest range (laidOut). Where no cut moved, the lists are the params themselves.
 */
import type { StateArray, Tensor } from '../tensor';
import { shardRange } from './shard';

/** Elements [from, to) of param `index`. */
export interface ParamRange {
  index: number;
  from: number;
  to: number;
}

/** The ranges of one element type's flat vector, rank by rank. */
interface TypeLayout {
  indices: number[];
  /** ranges[r]: rank r's ranges of these params, in param order. */
  ranges: ParamRange[][];
  /** Null where every cut is shardRange's; else the pad after each rank's ranges. */
  pads: number[] | null;
}

export class ShardLayout {
  private readonly types: TypeLayout[];

  /** `cutUnits[i]`: a cut through param i falls at a multiple of this many of its elements (1: anywhere). */
  constructor(params: readonly Tensor[], cutUnits: readonly number[], size: number) {
    const float32 = params.map((_, i) => i).filter((i) => params[i] instanceof Float32Array);
    const float64 = params.map((_, i) => i).filter((i) => !(params[i] instanceof Float32Array));
    this.types = [float32, float64].map((indices) => layoutOf(indices, params, cutUnits, size));
  }

  /** Rank `rank`'s ranges of the params: float32 ones first, then float64 ones. */
  rangesOf(rank: number): ParamRange[] {
    return this.types.flatMap((t) => t.ranges[rank]);
  }

  /** Whether some cut moved (the collectives then need laidOut lists). */
  get moved(): boolean {
    return this.types.some((t) => t.pads !== null);
  }

  /** The longest pad each rank's range needs, for the float32 params (0s where no cut moved). */
  padLengths(): number[] {
    return this.types[0].pads ?? this.types[0].ranges.map(() => 0);
  }

  /**
   * `arrays` (one per param, each as long as its param: the params, the
   * gradients, a moment's buffers) as a list whose even cut by the
   * collectives gives each rank its ranges. `pads[r]` (float32-param typed,
   * padLengths()[r] long) follows rank r's ranges; its contents are scratch.
   */
  laidOut<T extends StateArray>(arrays: readonly T[], pads: readonly T[]): T[] {
    const out: T[] = [];
    for (const t of this.types) lay(t, arrays, pads, out);
    return out;
  }

  /** laidOut for the float32 params alone (what compact state, which only they have, is cut along). */
  laidOutFloat32<T extends StateArray>(arrays: readonly T[], pads: readonly T[]): T[] {
    const out: T[] = [];
    lay(this.types[0], arrays, pads, out);
    return out;
  }
}

function lay<T extends StateArray>(t: TypeLayout, arrays: readonly T[], pads: readonly T[], out: T[]): void {
  if (t.pads === null) {
    for (const i of t.indices) out.push(arrays[i]);
    return;
  }
  t.ranges.forEach((ranges, r) => {
    for (const { index, from, to } of ranges) out.push(arrays[index].subarray(from, to) as T);
    out.push(pads[r]);
  });
}

function layoutOf(indices: number[], params: readonly Tensor[], cutUnits: readonly number[], size: number): TypeLayout {
  const starts: number[] = [];
  let total = 0;
  for (const i of indices) {
    starts.push(total);
    total += params[i].length;
  }
  const even = Array.from({ length: size + 1 }, (_, r) => (r === size ? total : shardRange(total, r, size).begin));
  // A cut inside a param with a cut unit moves back to a multiple of it (cuts stay in order: the move is monotone).
  const cuts = even.map((cut) => {
    const k = indices.findIndex((i, j) => cutUnits[i] > 1 && cut > starts[j] && cut < starts[j] + params[i].length);
    if (k < 0) return cut;
    const unit = cutUnits[indices[k]];
    return starts[k] + Math.floor((cut - starts[k]) / unit) * unit;
  });
  const ranges = Array.from({ length: size }, (_, r) => {
    const out: ParamRange[] = [];
    indices.forEach((i, j) => {
      const from = Math.max(cuts[r], starts[j]) - starts[j];
      const to = Math.min(cuts[r + 1], starts[j] + params[i].length) - starts[j];
      if (from < to) out.push({ index: i, from, to });
    });
    return out;
  });
  const moved = cuts.some((cut, r) => cut !== even[r]);
  if (!moved) return { indices, ranges, pads: null };
  const lengths = ranges.map((_, r) => cuts[r + 1] - cuts[r]);
  const longest = Math.max(...lengths);
  return { indices, ranges, pads: lengths.map((n) => longest - n) };
}
