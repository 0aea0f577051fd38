/**
 * Shards: how N ranks split a flat vector (the collectives' reduceScatter and
 * allGather, ZeRO's state partition) and a data set (shardBatches, in the
 * order of dealOrder).
 */
import { checkNumber } from '../validate';
import { createRng, mixSeed, shuffleInPlace } from '../seeded_rng';

/** [begin, end) of rank `rank`'s shard of `total` elements over `size` ranks: the first total % size ranks get one more (native/mpi/collective.cc computes the same). */
export function shardRange(
  total: number,
  rank: number,
  size: number,
): {
  /** The shard's first element. */
  begin: number;
  /** One past the shard's last element. */
  end: number;
} {
  checkNumber('shardRange: total', total, { integer: true, min: 0 });
  checkNumber('shardRange: size', size, { integer: true, min: 1 });
  checkNumber('shardRange: rank', rank, { integer: true, min: 0, max: size - 1 });
  const base = Math.floor(total / size);
  const extra = total % size;
  const start = (r: number): number => r * base + Math.min(r, extra);
  return { begin: start(rank), end: start(rank + 1) };
}

/**
 * This rank's batches of every epoch: the epoch's batches (from `data`, a
 * function of the epoch or an iterable) dealt to the ranks in an order
 * shuffled by `seed` and the epoch, so that each rank sees other batches each
 * epoch and every rank computes the same deal. Every rank gets the same
 * number, floor(batches / size): the remainder is left out of the epoch (ranks
 * that took different numbers of steps would wait for each other forever).
 */
export function shardBatches<B>(
  data: Iterable<B> | ((epoch: number) => Iterable<B>),
  rank: number,
  size: number,
  options: { seed?: number } = {},
): (epoch: number) => B[] {
  checkNumber('shardBatches: size', size, { integer: true, min: 1 });
  checkNumber('shardBatches: rank', rank, { integer: true, min: 0, max: size - 1 });
  const seed = options.seed === undefined ? 0 : checkNumber('shardBatches: options.seed', options.seed, { integer: true, min: 0, max: 2 ** 32 - 1 });
  const source = typeof data === 'function' ? data : () => data;
  return (epoch: number) => {
    const batches = [...source(epoch)];
    const order = dealOrder(batches.length, seed, epoch);
    const per = Math.floor(batches.length / size);
    return Array.from({ length: per }, (_, k) => batches[order[k * size + rank]]);
  };
}

/**
 * The order in which shardBatches deals an epoch's `count` batches: a permutation of 0..count-1
 * shuffled by `seed` and the epoch alone, whatever the number of ranks, so that a run resumed on
 * another number of ranks meets its batches in the same order (global_batch.ts).
 */
export function dealOrder(count: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  shuffleInPlace(order, createRng(mixSeed(seed, epoch)));
  return order;
}
