/**
 * Shards: how N ranks split a flat vector (the collectives' reduceScatter and
 * allGather, ZeRO's state partition) and a data set (shardBatches).
 */
import { checkNumber } from '../validate';

/** [begin, end) of rank `rank`'s shard of `total` elements over `size` ranks: the first total % size ranks get one more (native/mpi/collective.cc computes the same). */
export function shardRange(total: number, rank: number, size: number): { begin: number; end: number } {
  checkNumber('shardRange: total', total, { integer: true, min: 0 });
  checkNumber('shardRange: size', size, { integer: true, min: 1 });
  checkNumber('shardRange: rank', rank, { integer: true, min: 0, max: size - 1 });
  const base = Math.floor(total / size);
  const extra = total % size;
  const start = (r: number): number => r * base + Math.min(r, extra);
  return { begin: start(rank), end: start(rank + 1) };
}
