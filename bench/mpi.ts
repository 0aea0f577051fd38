/**
 * `fusedoptim bench --mpi` (npm run bench -- --mpi): the data-parallel figures
 * of the README. Started without mpirun, it starts itself under
 * `mpirun -np 2` (--np N for another count) and rank 0 prints markdown:
 *
 *  - allReduce of 1M, 16M and 64M float32 (one tensor) against a memcpy of the same
 *    bytes in the same run, interleaved. Algorithm bandwidth = bytes / time
 *    (NCCL-tests' algbw); bus bandwidth = algbw · 2(n−1)/n, the bytes each rank
 *    must move in a ring all-reduce, comparable across world sizes.
 *  - the bucket size: 1M float32 as 1000 tensors, allReduce'd with several bucketBytes.
 *  - the fingerprint: a collective of no tensors (the fingerprint exchange alone)
 *    against a 1M-float allReduce.
 *  - a data-parallel step of the digits MLP: forward/backward, communication, optimizer.
 *  - optimizer state per rank with and without shardState (AdamW, 1M float32 params).
 *
 * Times are medians over repetitions, each started after a barrier, on rank 0.
 */
import { spawnSync } from 'child_process';
import * as dist from '../lib/distributed';
import { AdamW } from '../lib/optim/adam';
import { summarize } from './stats';

const CHILD_FLAG = 'FUSEDOPTIM_BENCH_MPI_RANK';

function underMpirun(): boolean {
  return process.env.OMPI_COMM_WORLD_SIZE !== undefined || process.env.PMI_SIZE !== undefined || process.env[CHILD_FLAG] !== undefined;
}

/** Seconds of `body` over `reps` runs (after `warmup`), each after a barrier: the median, and the minimum (the machine undisturbed). */
function timeIt(body: () => void, reps: number, warmup = 2): Timing {
  for (let i = 0; i < warmup; i++) body();
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    dist.barrier();
    const t0 = process.hrtime.bigint();
    body();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const { median, min } = summarize(samples);
  return { median, min };
}

interface Timing {
  median: number;
  min: number;
}

const fmtMs = (t: Timing): string => `${(t.median * 1e3).toPrecision(3)} (${(t.min * 1e3).toPrecision(3)}) ms`;
const fmtUs = (t: Timing): string => `${(t.median * 1e6).toPrecision(3)} (${(t.min * 1e6).toPrecision(3)}) µs`;
const fmtGBs = (bytesPerSecond: number): string => `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`;

function bandwidth(size: number, lines: string[]): void {
  lines.push('### allReduce (sum, float32, one tensor) against memcpy', '');
  lines.push('Times: median (minimum) over the repetitions; bandwidths from the minima.', '');
  lines.push('| elements | bytes | memcpy | allReduce | algbw | busbw | algbw / memcpy | deterministic allReduce |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const n of [1 << 20, 16 << 20, 64 << 20]) {
    const reps = n >= 64 << 20 ? 5 : n >= 16 << 20 ? 9 : 25;
    const x = new Float32Array(n).fill(1);
    const copy = new Float32Array(n);
    const memcpy = timeIt(() => copy.set(x), reps);
    const reduce = timeIt(() => dist.allReduce([x]), reps);
    const det = timeIt(() => dist.allReduce([x], { deterministic: true }), reps);
    const bytes = n * 4;
    // Bandwidths from the minimum times: the machine's capability, not its load.
    const algbw = bytes / reduce.min;
    const copybw = bytes / memcpy.min;
    lines.push(
      `| ${n / (1 << 20)}M | ${bytes / (1 << 20)} MiB | ${fmtGBs(copybw)} | ${fmtMs(reduce)} | ${fmtGBs(algbw)} | ${fmtGBs((algbw * 2 * (size - 1)) / size)} | ${(algbw / copybw).toFixed(2)} | ${fmtMs(det)} |`,
    );
  }
  lines.push('');
}

function buckets(lines: string[]): void {
  lines.push('### Bucket size: 1M float32 as 1000 tensors of 1049 elements', '');
  lines.push('| bucketBytes | allReduce, median (minimum) |', '|---:|---:|');
  const tensors = Array.from({ length: 1000 }, () => new Float32Array(1049).fill(1));
  for (const bytes of [64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20]) {
    dist.init({ bucketBytes: bytes });
    lines.push(`| ${bytes >= 1 << 20 ? `${bytes >> 20} MiB` : `${bytes >> 10} KiB`} | ${fmtMs(timeIt(() => dist.allReduce(tensors), 15))} |`);
  }
  dist.init({ bucketBytes: 4 << 20 });
  lines.push('');
}

function fingerprint(lines: string[]): void {
  const x = new Float32Array(1 << 20).fill(1);
  const alone = timeIt(() => dist.allReduce([]), 200, 20);
  const full = timeIt(() => dist.allReduce([x]), 25);
  lines.push('### Fingerprint check', '');
  lines.push(
    `A collective of no tensors (the fingerprint exchange alone): ${fmtUs(alone)}; a 1M-float allReduce (fingerprint included): ${fmtMs(full)}; ` +
      `ratio of the medians ${((100 * alone.median) / full.median).toFixed(1)}%, of the minima ${((100 * alone.min) / full.min).toFixed(1)}%.`,
    '',
  );
}

async function digitsStep(lines: string[]): Promise<void> {
  const { digitsSetup, DEFAULT_DIGITS_CONFIG } = await import('../lib/cli/jobs/digits/job');
  const setup = digitsSetup({ ...DEFAULT_DIGITS_CONFIG, hidden: [...DEFAULT_DIGITS_CONFIG.hidden] });
  const batch = [...setup.trainBatches(0)][0];
  const { model } = setup;
  let grads = model.forwardBackward(batch).grads;
  const plain = new AdamW(model.params.map((p) => p.slice()), { lr: 1e-3 });
  const copies = grads.map((g) => g.slice());
  const fb = timeIt(() => (grads = model.forwardBackward(batch).grads), 50, 5);
  const comm = timeIt(() => dist.allReduce(copies), 50, 5);
  const step = timeIt(() => plain.step(copies, { gradScale: 0.5, maxGradNorm: 1 }), 50, 5);
  lines.push(`### A data-parallel step of the digits MLP (${model.sizes.join('-')}, batch ${DEFAULT_DIGITS_CONFIG.batchSize} per rank)`, '');
  lines.push('| forward/backward | allReduce of the gradients | AdamW step (fused clip) |', '|---:|---:|---:|');
  lines.push(`| ${fmtUs(fb)} | ${fmtUs(comm)} | ${fmtUs(step)} |`, '');
}

function memory(size: number, lines: string[]): void {
  const params = () => Array.from({ length: 4 }, () => new Float32Array(1 << 18).fill(0.5));
  const grads = Array.from({ length: 4 }, () => new Float32Array(1 << 18).fill(0.01));
  const rows: string[] = [];
  for (const shardState of [false, true]) {
    const opt = new dist.DistributedOptimizer(new AdamW(params(), { lr: 1e-3 }), { shardState });
    opt.step(grads.map((g) => g.slice()));
    rows.push(`| ${shardState} | ${((opt.localStateElements * 4) / (1 << 20)).toFixed(2)} MiB |`);
  }
  lines.push(`### AdamW state per rank, 1M float32 params, ${size} ranks`, '');
  lines.push('| shardState | state on rank 0 |', '|---|---:|', ...rows, '');
}

export async function runMpiBench(argv: string[]): Promise<number> {
  if (!underMpirun()) {
    const np = argv.includes('--np') ? argv[argv.indexOf('--np') + 1] : '2';
    const child = spawnSync(
      'mpirun',
      ['--allow-run-as-root', '--oversubscribe', '-np', np, process.execPath, ...process.execArgv, process.argv[1], ...process.argv.slice(2)],
      { stdio: 'inherit', env: { ...process.env, [CHILD_FLAG]: '1', OMPI_MCA_btl_vader_single_copy_mechanism: process.env.OMPI_MCA_btl_vader_single_copy_mechanism ?? 'none' } },
    );
    if (child.error) {
      process.stderr.write(`fusedoptim bench --mpi: cannot start mpirun (${child.error.message}); install openmpi-bin libopenmpi-dev\n`);
      return 1;
    }
    return child.status ?? 1;
  }
  dist.init();
  const size = dist.size();
  const lines: string[] = [`## Data-parallel (MPI): ${size} ranks`, ''];
  bandwidth(size, lines);
  buckets(lines);
  fingerprint(lines);
  await digitsStep(lines);
  memory(size, lines);
  if (dist.rank() === 0) process.stdout.write(lines.join('\n'));
  return 0;
}
