/**
 * shardBatches (issue 10), in one process: each rank's batches of an epoch are
 * disjoint from the others', equally many (the remainder left out), the same
 * for the same seed and epoch, and dealt differently each epoch. A global batch
 * on any number of ranks (issue 23): the pieces of a step's batches, each taken
 * by one rank, and the deal's order, which no number of ranks changes. ZeRO's
 * shard layout: cuts inside a block of 8-bit state move back to its start,
 * and the collectives' lists are padded so that their even cut is that one.
 * And the distributed API refuses use before init() without MPI, and a
 * wrapped optimizer stepped alone under shardState.
 */
import { expect } from 'chai';
import { Adam } from '../lib';
import { DistributedOptimizer, shardBatches, shardRange } from '../lib/distributed';
import { ShardLayout } from '../lib/distributed/shard_layout';
import { piecesOfRank, splitGlobalBatch } from '../lib/distributed/global_batch';
import { dealOrder } from '../lib/distributed/shard';
import { describeExit, runNodeChild } from './helpers/child';
import { skipWithoutMpi } from './helpers/mpi';

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

describe('distributed: a global batch on any number of ranks', () => {
  it('cuts a step\'s batches into lcm(batches, ranks) pieces, each rank taking as many', () => {
    const cases: Array<[number, number, number, number]> = [
      // batches, ranks -> pieces per batch, pieces per rank
      [2, 2, 1, 1],
      [4, 2, 1, 2],
      [2, 1, 1, 2],
      [2, 4, 2, 1],
      [1, 2, 2, 1],
      [2, 3, 3, 2],
      [4, 6, 3, 2],
    ];
    for (const [batches, ranks, perBatch, perRank] of cases) {
      expect(splitGlobalBatch(batches, ranks), `${batches} on ${ranks}`).to.deep.equal({ batchesPerStep: batches, size: ranks, piecesPerBatch: perBatch, piecesPerRank: perRank });
    }
  });

  it('every piece of every batch goes to exactly one rank; on as many ranks as batches, batch r to rank r', () => {
    for (const [batches, ranks] of [[2, 3], [4, 6], [3, 1], [1, 4], [5, 5]]) {
      const split = splitGlobalBatch(batches, ranks);
      const taken = Array.from({ length: ranks }, (_, r) => piecesOfRank(split, r)).flat().map(({ batch, piece }) => `${batch}.${piece}`);
      const all = Array.from({ length: batches * split.piecesPerBatch }, (_, q) => `${Math.floor(q / split.piecesPerBatch)}.${q % split.piecesPerBatch}`);
      expect(taken.sort(), `${batches} on ${ranks}`).to.deep.equal(all.sort());
    }
    expect([0, 1, 2].map((r) => piecesOfRank(splitGlobalBatch(3, 3), r))).to.deep.equal([[{ batch: 0, piece: 0 }], [{ batch: 1, piece: 0 }], [{ batch: 2, piece: 0 }]]);
  });

  it('deals an epoch in an order of the seed and the epoch alone: shardBatches\' order', () => {
    const order = dealOrder(11, 5, 3);
    expect([...order].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 11 }, (_, i) => i));
    expect(dealOrder(11, 5, 3)).to.deep.equal(order);
    const batches = Array.from({ length: 11 }, (_, i) => i);
    expect([0, 1].map((r) => shardBatches(batches, r, 2, { seed: 5 })(3))).to.deep.equal([0, 1].map((r) => [0, 1, 2, 3, 4].map((k) => order[2 * k + r])));
  });
});

describe('distributed: the ZeRO shard layout', () => {
  // float32: 700 (8-bit state: blocks at 0, 256, 512), 57, 99; float64: 41.
  const params = [new Float32Array(700), new Float32Array(57), new Float32Array(99), new Float64Array(41)];
  // Cut units (the state-layout view's cutUnit): param 0's cuts fall on its blocks.
  const cutUnits = [256, 1, 1, 1];

  it('without 8-bit state, or where no cut falls inside a block, cuts where shardRange cuts', () => {
    const layout = new ShardLayout(params, [1, 1, 1, 1], 3);
    expect(layout.moved).to.equal(false);
    // 856 float32 elements: 286, 285, 285.
    expect(layout.rangesOf(0)).to.deep.equal([{ index: 0, from: 0, to: 286 }, { index: 3, from: 0, to: 14 }]);
    expect(layout.padLengths()).to.deep.equal([0, 0, 0]);
    expect(layout.laidOut(params, [])).to.deep.equal(params);
    expect(new ShardLayout(params, cutUnits, 1).moved).to.equal(false);
  });

  it('moves a cut inside a block of an 8-bit param back to the block start, and pads each range to the longest', () => {
    const layout = new ShardLayout(params, cutUnits, 3);
    expect(layout.moved).to.equal(true);
    // shardRange cuts 856 at 286 and 571: both inside param 0, moved to 256 and 512.
    expect([0, 1, 2].map((r) => layout.rangesOf(r).filter((p) => p.index !== 3))).to.deep.equal([
      [{ index: 0, from: 0, to: 256 }],
      [{ index: 0, from: 256, to: 512 }],
      [{ index: 0, from: 512, to: 700 }, { index: 1, from: 0, to: 57 }, { index: 2, from: 0, to: 99 }],
    ]);
    // The float64 params are cut as before.
    expect(layout.rangesOf(1).filter((p) => p.index === 3)).to.deep.equal([{ index: 3, from: 14, to: 28 }]);
    const pads = layout.padLengths().map((n) => new Float32Array(n));
    expect(pads.map((p) => p.length)).to.deep.equal([88, 88, 0]);
    const laid = layout.laidOut(params, pads);
    const f32 = laid.filter((t) => t instanceof Float32Array);
    const total = f32.reduce((n, t) => n + t.length, 0);
    expect(total).to.equal(3 * 344);
    // The collectives' even cut of the laid-out float32 list is each rank's range and its pad.
    let at = 0;
    const startOf = f32.map((t) => ((at += t.length), at - t.length));
    expect([0, 1, 2].map((r) => shardRange(total, r, 3).begin)).to.deep.equal([0, startOf[2], startOf[4]]);
    expect(f32[0].buffer).to.equal(params[0].buffer);
    expect(f32[1]).to.equal(pads[0]);
    expect(laid.filter((t) => t instanceof Float64Array)).to.deep.equal([params[3]]);
  });
});

describe('distributed: a wrapped optimizer under shardState', function () {
  this.timeout(120_000);
  skipWithoutMpi(this);

  it('refuses to step alone (its state lives in the shards), with a code and a message that says what to step, changing nothing', () => {
    // In a child: MPI, once initialised, stays so in this process.
    const script = `
      const dist = require('./lib/distributed');
      const { AdamW } = require('./lib');
      dist.init();
      const params = [new Float32Array(10).fill(1), new Float32Array(7).fill(2)];
      const grads = () => [new Float32Array(10).fill(0.5), new Float32Array(7).fill(-0.5)];
      const opt = new dist.DistributedOptimizer(new AdamW(params), { shardState: true });
      opt.step(grads());
      const before = { params: params.map((p) => Array.from(p)), held: opt.localStateElements, keys: Object.keys(opt.optimizer.state) };
      let error = null;
      try { opt.optimizer.step(grads()); } catch (e) { error = { name: e.name, code: e.code, message: e.message }; }
      const after = { params: params.map((p) => Array.from(p)), held: opt.localStateElements, keys: Object.keys(opt.optimizer.state) };
      opt.step(grads());
      console.log(JSON.stringify({ error, same: JSON.stringify(before) === JSON.stringify(after) }));
    `;
    const r = runNodeChild(script, { timeoutMs: 60_000 });
    expect(r.status, describeExit(r)).to.equal(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { error: { name: string; code: string; message: string } | null; same: boolean };
    expect(out.error).to.not.equal(null);
    expect(out.error!.name).to.equal('RangeError');
    expect(out.error!.code).to.equal('ERR_INVALID_ARG_VALUE');
    expect(out.error!.message).to.match(/AdamW\.step: this optimizer is wrapped by a DistributedOptimizer with shardState.*step the DistributedOptimizer instead/);
    expect(out.same, 'params and state as before the refused step').to.equal(true);
  });
});
