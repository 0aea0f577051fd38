/**
 * A global batch that stays the same whatever the number of ranks: what lets a run stopped on N
 * ranks continue on M with the same steps, the same batches in each step and the same schedule.
 *
 * A run's optimizer step averages `batchesPerStep` batches (the number of ranks it began on: one
 * batch per rank, as shardBatches deals them), each batch's mean gradient weighing the same. On
 * `size` ranks the step's batches are cut into lcm(batchesPerStep, size) equal pieces, laid out
 * batch after batch, and rank r takes pieces r·piecesPerRank to (r + 1)·piecesPerRank − 1, adding
 * their gradients up before the step (gradient accumulation):
 *
 *   4 batches on 4 ranks: one whole batch each (shardBatches' deal, unchanged)
 *   4 batches on 2 ranks: two whole batches each, accumulated
 *   2 batches on 4 ranks: half a batch each, every half weighing half its batch
 *   2 batches on 3 ranks: each batch in 3 pieces, two pieces each
 *
 * Every rank thus takes the same number of pieces per step (no rank waits for another), and the
 * average over ranks and pieces is the average of the batches' mean gradients, as on
 * batchesPerStep ranks; only the order of the additions differs.
 */
import { checkNumber } from '../validate';

/** How a step's `batchesPerStep` batches are spread over `size` ranks. */
export interface GlobalBatchSplit {
  /** Batches averaged by one optimizer step (fixed for the run). */
  batchesPerStep: number;
  /** Ranks sharing the step. */
  size: number;
  /** Pieces each batch is cut into (1: whole batches). */
  piecesPerBatch: number;
  /** Pieces each rank takes per step, accumulated before the step (its accumulationSteps). */
  piecesPerRank: number;
}

/** One piece a rank takes: the `piece`-th of `piecesPerBatch` pieces of the step's `batch`-th batch (0-based). */
export interface BatchPiece {
  batch: number;
  piece: number;
}

export function splitGlobalBatch(batchesPerStep: number, size: number): GlobalBatchSplit {
  checkNumber('splitGlobalBatch: batchesPerStep', batchesPerStep, { integer: true, min: 1 });
  checkNumber('splitGlobalBatch: size', size, { integer: true, min: 1 });
  const pieces = (batchesPerStep / gcd(batchesPerStep, size)) * size;
  return { batchesPerStep, size, piecesPerBatch: pieces / batchesPerStep, piecesPerRank: pieces / size };
}

/** The pieces rank `rank` takes in every step, in the order it takes them. */
export function piecesOfRank(split: GlobalBatchSplit, rank: number): BatchPiece[] {
  checkNumber('piecesOfRank: rank', rank, { integer: true, min: 0, max: split.size - 1 });
  return Array.from({ length: split.piecesPerRank }, (_, j) => {
    const q = rank * split.piecesPerRank + j;
    return { batch: Math.floor(q / split.piecesPerBatch), piece: q % split.piecesPerBatch };
  });
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
