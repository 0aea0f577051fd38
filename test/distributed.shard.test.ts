/**
 * shardBatches (issue 10), in one process: each rank's batches of an epoch are
 * disjoint from the others', equally many (the remainder left out), the same
 * for the same seed and epoch, and dealt differently each epoch. And the
 * distributed API refuses use before init() without MPI.
 */
import { expect } from 'chai';
import { Adam } from '../lib';
import { DistributedOptimizer, shardBatches } from '../lib/distributed';

describe('distributed: shardBatches', () => {
  const batches = Array.from({ length: 11 }, (_, i) => i);

  it('deals an epoch to the ranks disjointly, floor(n / size) each, the same for the same seed and epoch', () => {
    const deal = (epoch: number) => [0, 1, 2].map((r) => shardBatches(batches, r, 3, { seed: 5 })(epoch));
    const epoch0 = deal(0);
    for (const mine of epoch0) expect(mine).to.have.length(3);
    const all = epoch0.flat();
    expect(new Set(all).size).to.equal(9);
    expect(deal(0)).to.deep.equal(epoch0);
    expect(deal(1)).to.not.deep.equal(epoch0);
    expect(shardBatches(batches, 0, 3, { seed: 6 })(0)).to.not.deep.equal(epoch0[0]);
  });

  it('takes a function of the epoch, and one rank gets every batch in a shuffled order', () => {
    const byEpoch = (epoch: number) => batches.map((b) => b + 100 * epoch);
    const mine = shardBatches(byEpoch, 0, 1)(2);
    expect([...mine].sort((a, b) => a - b)).to.deep.equal(byEpoch(2));
  });

  it('checks rank and size', () => {
    expect(() => shardBatches(batches, 3, 3)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
    expect(() => shardBatches(batches, 0, 0)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
  });

  it('a DistributedOptimizer before init() throws ERR_MPI_NOT_INITIALIZED', () => {
    expect(() => new DistributedOptimizer(new Adam([new Float32Array(2)]))).to.throw(RangeError, /DistributedOptimizer: MPI is not initialised/).with.property('code', 'ERR_MPI_NOT_INITIALIZED');
  });
});
