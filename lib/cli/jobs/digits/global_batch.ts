/**
 * The digits job's global batch (lib/distributed/global_batch.ts): how many batches of
 * config.batchSize examples one optimizer step averages, and in which order an epoch's batches
 * come. Both are fixed when a run begins and stored in its checkpoints, so that a run stopped on
 * N ranks resumes on M with the same steps per epoch, the same batches in each step, in the same
 * order, and the same schedule:
 *
 *   batchesPerStep   the number of ranks the run began on (1 in one process): one batch per rank
 *   dealt            true (begun with --distributed): each epoch's batches come in the order
 *                    shardBatches deals them, shuffled by seed and epoch; false (begun in one
 *                    process): in the order epochBatches gives them
 *
 * An epoch has floor(batches / batchesPerStep) steps; the batches left over (fewer than a step's)
 * are left out of it, as shardBatches leaves them out.
 *
 * A checkpoint written before the global batch was stored resumes as it always did, its global
 * batch taken to be the resuming world's; where the length of its epochs shows that it ran on
 * another number of ranks, the resume is refused, saying which.
 */
import { ErrorCodes, makeError } from '../../../errors';
import type { Checkpoint } from '../../../train/checkpoint';
import { GlobalBatchSplit, piecesOfRank, splitGlobalBatch } from '../../../distributed/global_batch';
import { dealOrder, shardRange } from '../../../distributed/shard';
import { checkBoolean, checkNumber, checkObject, checkOptions } from '../../../validate';
import { DIGITS_FEATURES, Examples } from './data';

export interface GlobalBatch {
  /** Batches of config.batchSize examples averaged by one optimizer step. */
  batchesPerStep: number;
  /** An epoch's batches come in shardBatches' dealt order (runs begun with --distributed), else in epochBatches' order. */
  dealt: boolean;
}

/** The key of the checkpoints' `extra` that holds it. */
export const GLOBAL_BATCH_KEY = 'globalBatch';

/** What the job needs of its data to lay out the batches. */
export interface BatchSource {
  seed: number;
  batchSize: number;
  /** The batches of an epoch, in epochBatches' order. */
  epochBatches: (epoch: number) => Iterable<Examples>;
  /** Batches in an epoch. */
  batchesPerEpoch: number;
  /** Examples in the smallest batch of an epoch (its last). */
  smallestBatch: number;
}

/** A new run's: one batch per rank, dealt on several ranks (as shardBatches deals them) or in order in one process. */
export function newGlobalBatch(size: number, distributed: boolean): GlobalBatch {
  return { batchesPerStep: size, dealt: distributed };
}

/**
 * The global batch of the run that wrote `ck`; for a checkpoint written before it was stored,
 * the resuming world's (what such runs always resumed with), refused when the epochs the
 * checkpoint records have another length.
 */
export function storedGlobalBatch(ck: Checkpoint, file: string, source: BatchSource, size: number, distributed: boolean): GlobalBatch {
  const stored = ck.extra[GLOBAL_BATCH_KEY];
  if (stored !== undefined) {
    const name = `the checkpoint's ${GLOBAL_BATCH_KEY}`;
    const g = checkOptions(name, checkObject(name, stored), ['batchesPerStep', 'dealt']);
    return {
      batchesPerStep: checkNumber(`${name}.batchesPerStep`, g.batchesPerStep, { integer: true, min: 1 }),
      dealt: checkBoolean(`${name}.dealt`, g.dealt),
    };
  }
  const assumed = newGlobalBatch(size, distributed);
  const steps = stepsPerEpoch(source, assumed);
  // A finished epoch says how many steps the run's epochs had; one in progress, at least how many.
  const ranSteps = ck.history !== null && ck.history.epochEndStep.length > 0 ? ck.history.epochEndStep[0] : null;
  const taken = ck.progress?.batchInEpoch ?? 0;
  if (ranSteps === null ? taken > steps : ranSteps !== steps) {
    const places = ranksWithSteps(source.batchesPerEpoch, ranSteps, taken);
    throw makeError(
      ErrorCodes.CHECKPOINT_MISMATCH,
      `resume: ${file} was written by an earlier fusedoptim, which did not record how many ranks trained the run, and ` +
        (ranSteps === null ? `its epoch had taken ${taken} steps` : `its epochs have ${ranSteps} steps`) +
        `, not the ${steps} of ${ranks(size)}: resume it where it ran (${places}); the checkpoints it writes then resume on any number of ranks`,
    );
  }
  return assumed;
}

/** How the ranks that could have written an old checkpoint are named: `mpirun -np 2` ..., one process. */
function ranksWithSteps(batches: number, ranSteps: number | null, taken: number): string {
  const fits = (n: number) => (ranSteps === null ? Math.floor(batches / n) >= taken : Math.floor(batches / n) === ranSteps);
  const sizes = Array.from({ length: batches }, (_, i) => i + 1).filter(fits).slice(0, 4);
  return sizes.map((n) => (n === 1 ? 'in one process' : `on ${n} ranks: mpirun -np ${n} ... --distributed --resume`)).join(', or ');
}

/** Optimizer steps in an epoch: the same on any number of ranks. */
export function stepsPerEpoch(source: BatchSource, globalBatch: GlobalBatch): number {
  return Math.floor(source.batchesPerEpoch / globalBatch.batchesPerStep);
}

/**
 * How `size` ranks share the global batch; refused when a batch would be cut into more pieces
 * than it has examples (a rank would get none of it), naming the most ranks that can resume it.
 */
export function spreadOver(source: BatchSource, globalBatch: GlobalBatch, size: number): GlobalBatchSplit {
  const split = splitGlobalBatch(globalBatch.batchesPerStep, size);
  if (split.piecesPerBatch <= source.smallestBatch) return split;
  let most = size - 1;
  while (most > 1 && splitGlobalBatch(globalBatch.batchesPerStep, most).piecesPerBatch > source.smallestBatch) most--;
  throw makeError(
    ErrorCodes.INVALID_ARG_VALUE,
    `resume: each step of this run averages ${globalBatch.batchesPerStep} batch(es) of ${source.batchSize} examples; on ${size} ranks ` +
      `each batch would be cut into ${split.piecesPerBatch} pieces, more than the ${source.smallestBatch} examples of the smallest batch, ` +
      `so some rank would get none of it: resume on ${most === 1 ? 'one process' : `at most ${most} ranks`}`,
  );
}

/**
 * This rank's batches of every epoch, in the order it takes them: per step, its piecesPerRank
 * pieces of the step's batches (whole batches when piecesPerBatch is 1, the very ones
 * shardBatches deals on batchesPerStep ranks). A piece is a range of its batch's rows and
 * weighs as its share of the batch's mean (lossDivisor).
 */
export function rankBatches(source: BatchSource, globalBatch: GlobalBatch, split: GlobalBatchSplit, rank: number): (epoch: number) => Examples[] {
  const mine = piecesOfRank(split, rank);
  const per = globalBatch.batchesPerStep;
  return (epoch) => {
    const batches = [...source.epochBatches(epoch)];
    const order = globalBatch.dealt ? dealOrder(batches.length, source.seed, epoch) : null;
    const out: Examples[] = [];
    for (let step = 0; step < stepsPerEpoch(source, globalBatch); step++) {
      for (const { batch, piece } of mine) {
        const at = step * per + batch;
        const whole = batches[order === null ? at : order[at]];
        out.push(split.piecesPerBatch === 1 ? whole : pieceOf(whole, piece, split.piecesPerBatch));
      }
    }
    return out;
  };
}

/** Rows shardRange(size, piece, pieces) of a batch (views, not copies), weighing 1/pieces of its mean. */
function pieceOf(batch: Examples, piece: number, pieces: number): Examples & { lossDivisor: number } {
  const { begin, end } = shardRange(batch.size, piece, pieces);
  return {
    x: batch.x.subarray(begin * DIGITS_FEATURES, end * DIGITS_FEATURES),
    y: batch.y.subarray(begin, end),
    size: end - begin,
    lossDivisor: batch.size / pieces,
  };
}

/**
 * What a run resumed on another number of ranks says, once: how each step's batches are shared
 * now, and what may not carry over (the order of the additions). Null on the run's own number.
 */
export function resumedElsewhereNote(split: GlobalBatchSplit, batchSize: number): string | null {
  const { batchesPerStep: batches, piecesPerBatch: pieces, piecesPerRank: taken, size } = split;
  if (size === batches) return null;
  const shared =
    pieces === 1
      ? `${size === 1 ? 'all' : taken} of them ${size === 1 ? 'here' : 'on each rank'}, added up before the step`
      : `each cut into ${pieces} pieces, ${taken === 1 ? 'one' : taken} per rank${taken > 1 ? ', added up before the step' : ''}`;
  return (
    `resuming ${where(size)} a run begun ${where(batches)}: each step still averages the same ${batches} batch${batches === 1 ? '' : 'es'} ` +
    `of ${batchSize} examples (${shared}), the batches come in the same order, and the schedule is the same. The gradients may add up ` +
    `in another order than ${where(batches)}: the numbers then follow that run to rounding, not bit for bit`
  );
}

function where(n: number): string {
  return n === 1 ? 'in one process' : `on ${n} ranks`;
}

function ranks(n: number): string {
  return n === 1 ? 'one process' : `${n} ranks`;
}
