/**
 * Schedule-Free AdamW and SGD under DistributedOptimizer, under mpirun
 * (test/fixtures/distributed/schedule_free.ts): train / step / eval / train
 * sequences on 2 ranks, plain (gradients averaged) and with shardState
 * (ZeRO-1: z and the second moment in the shards, the groups' k, lrMax,
 * weightSum and mode kept by the wrapped optimizer, train() and eval() moving
 * each rank's pieces and gathering the params), equal one process bit for bit
 * after every op, in float64 and in float32 with 8-bit state. A checkpoint
 * taken sharded holds the unsharded run's state dict (the groups' values and
 * mode included) and resumes exactly sharded on 2 ranks, on 4, and in one
 * process without MPI. train() (the loop switches the modes at each epoch)
 * gives the same bits sharded or not. A step in eval mode is refused before
 * any communication, and eval() before scatterState() too.
 * Skipped (saying why) where mpirun or the MPI addon is missing.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runNodeChild } from './helpers/child';
import { MpiRun, describeRun, runRanks, skipWithoutMpi } from './helpers/mpi';

const VARIANTS = ['AdamWScheduleFree float64', 'SGDScheduleFree float64', 'AdamWScheduleFree float32 int8'];

describe('distributed: Schedule-Free', function () {
  this.timeout(900_000);
  skipWithoutMpi(this);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-sf-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let two: MpiRun;
  let four: MpiRun;
  let one: { status: number | null; stdout: string; stderr: string };

  before(async () => {
    two = await runRanks(2, 'schedule_free.ts', [dir]);
    four = await runRanks(4, 'schedule_free.ts', [dir, 'resume']);
    one = runNodeChild(`process.argv = [process.argv[0], 'schedule_free.ts', ${JSON.stringify(dir)}, 'resume', '1']; require('./test/fixtures/distributed/schedule_free.ts');`, {
      timeoutMs: 120_000,
    });
  });

  it('on 2 ranks, plain and sharded, every op equals one process bit for bit; the sharded checkpoint is the unsharded state dict, and resumes', () => {
    expect(two.status, describeRun(two)).to.equal(0);
    expect(two.ranks.map((r) => r.failures)).to.deep.equal([[], []]);
    for (const name of VARIANTS) {
      const [r0, r1] = two.ranks.map((r) => r[name] as Record<string, string[]>);
      expect(r0.plain, name).to.have.length(13);
      expect(r0.sharded, name).to.deep.equal(r0.plain);
      expect(r0.resumed, name).to.deep.equal(r0.plain.slice(7));
      expect(r1, `${name}: rank 1 holds rank 0's params after every op`).to.deep.equal(r0);
    }
  });

  it('each rank holds its shard of the state: z and the second moment of half the elements (8-bit: cut at a block start)', () => {
    const elements = (name: string) => two.ranks.map((r) => r[`${name}: sharded state elements`]);
    // 66 float64 elements, 33 per rank: z and expAvgSq, or z alone.
    expect(elements('AdamWScheduleFree float64')).to.deep.equal([2 * 33, 2 * 33]);
    expect(elements('SGDScheduleFree float64')).to.deep.equal([33, 33]);
    // 543 float32 elements, the cut moved back to 256: z per element, expAvgSq as 8-bit codes with an absmax per
    // block and the 256-value code map per param (w1, w2: 8-bit; the biases' 63 under min8bitSize in float32).
    expect(elements('AdamWScheduleFree float32 int8')).to.deep.equal([256 + (256 + 1 + 256), 287 + (44 + 1 + 256 + 180 + 1 + 256 + 63)]);
  });

  it('train() with distributed (the loop switching the modes each epoch) equals one process bit for bit, sharded or not', () => {
    for (const r of two.ranks) expect([r['train() shardState false'], r['train() shardState true']]).to.deep.equal([true, true]);
  });

  it('a checkpoint saved on 2 sharded ranks resumes on 4 sharded ranks and in one process, exactly', () => {
    expect(four.status, describeRun(four)).to.equal(0);
    expect(four.ranks.map((r) => r.failures)).to.deep.equal([[], [], [], []]);
    expect(one.status, one.stderr).to.equal(0);
    const report = JSON.parse(one.stdout.trim().split('\n').pop()!) as { failures: string[] };
    expect(report.failures).to.deep.equal([]);
  });
});
