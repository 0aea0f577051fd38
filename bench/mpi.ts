/**
 * `fusedoptim bench --mpi` (npm run bench -- --mpi): the data-parallel figures
 * of docs/performance.md. Started without mpirun, it starts itself under
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
 *  - overlap: a synthetic backward pass (16 layers, each a busy loop of a fixed
 *    duration, chosen so that the backward pass lasts as long as the
 *    communication of its gradients) stepped with and without gradReady.
 *  - compression: allReduce of 4M float32 as they are and in bf16 / fp16, time and bytes.
 *  - digits (only with `--sections digits`, it trains five times): the digits job
 *    trained with compression none, bf16 and fp16, with and without error feedback:
 *    validation accuracy and loss.
 *
 * `--sections a,b` runs only those (bandwidth, buckets, fingerprint, step,
 * memory, overlap, compression, digits); the default is all but digits.
 * `--sizes 1,16` picks the bandwidth table's sizes, in millions of elements (default 1,16,64);
 * `--layers 8,1024` the overlap's layer count and KiB per layer (default 16,256).
 * Times are medians over repetitions, each started after a barrier, on rank 0.
 */
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import * as dist from '../lib/distributed';
import { AdamW } from '../lib/optim/adam';
import { SGD } from '../lib/optim/sgd';
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

function bandwidth(size: number, lines: string[], millions: readonly number[]): void {
  lines.push('### allReduce (sum, float32, one tensor) against memcpy', '');
  lines.push('Times: median (minimum) over the repetitions; bandwidths from the minima.', '');
  lines.push('| elements | bytes | memcpy | allReduce | algbw | busbw | algbw / memcpy | deterministic allReduce |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const n of millions.map((m) => m << 20)) {
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

/** Spins for `seconds` of wall-clock time: one layer's backward pass, of a known duration, on this rank's core. */
function busy(seconds: number): void {
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < end) {
    // computing
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks for `seconds`: a layer computed elsewhere (another core, an accelerator), leaving this core to the communication. */
function away(seconds: number): void {
  Atomics.wait(sleeper, 0, 0, seconds * 1e3);
}

/** `layers` layers of `per` float32 gradients each, one bucket each. */
function overlap(lines: string[], layers: number, per: number): void {
  dist.init({ bucketBytes: per * 4 });
  const params = Array.from({ length: layers }, () => new Float32Array(per));
  const grads = Array.from({ length: layers }, () => new Float32Array(per).fill(1));
  // lr 0: the step costs a pass over the params, the same in both forms.
  const opt = new dist.DistributedOptimizer(new SGD(params, { lr: 0 }));
  const reps = 11;
  const communication = timeIt(() => opt.step(grads), reps);
  // Each layer as long as its share of the communication: the backward pass lasts as long as it.
  const layerSeconds = communication.median / layers;
  lines.push(`### Overlap: a synthetic backward pass of ${layers} layers, ${(per * 4) >> 10} KiB of float32 gradients each (one bucket each)`, '');
  lines.push(
    `Each layer's backward lasts ${(layerSeconds * 1e3).toPrecision(3)} ms, so that the backward pass lasts about as long as the ` +
      'communication of its gradients (measured first: a step with every gradient given at the end). "busy" spins on this ' +
      "rank's core; \"elsewhere\" blocks, as a layer computed on another core or device would. Ratios from the medians.",
    '',
  );
  lines.push('| layer | backward alone | communication (step) alone | step after the backward pass | step with gradReady during it | with gradReady / max | without / max |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const [name, layer] of [['busy', busy], ['elsewhere', away]] as const) {
    const backward = (ready?: (l: number) => void) => {
      for (let l = layers - 1; l >= 0; l--) {
        layer(layerSeconds);
        ready?.(l);
      }
    };
    const backwardAlone = timeIt(() => backward(), reps);
    const after = timeIt(() => {
      backward();
      opt.step(grads);
    }, reps);
    const during = timeIt(() => {
      backward((l) => opt.gradReady(l, grads[l]));
      opt.step(grads);
    }, reps);
    const longest = Math.max(backwardAlone.median, communication.median);
    lines.push(
      `| ${name} | ${fmtMs(backwardAlone)} | ${fmtMs(communication)} | ${fmtMs(after)} | ${fmtMs(during)} | ${(during.median / longest).toFixed(2)} | ${(after.median / longest).toFixed(2)} |`,
    );
  }
  lines.push('');
  dist.init({ bucketBytes: 4 << 20 });
}

function compression(size: number, lines: string[]): void {
  const n = 4 << 20;
  const x = new Float32Array(n).fill(1);
  const residuals = [new Float32Array(n)];
  const reps = 7;
  // Each rank sends 2(n-1)/n of the payload in an optimal all-reduce (a ring's, or the all-to-all and all-gather here).
  const sent = (bytesPerValue: number) => `${((n * bytesPerValue * 2 * (size - 1)) / size / (1 << 20)).toFixed(0)} MiB`;
  const rows: Array<[string, string, dist.ReduceOptions]> = [
    ['none (MPI_Allreduce)', sent(4), {}],
    ['none, deterministic', sent(4), { deterministic: true }],
    ['bf16', sent(2), { compression: 'bf16' }],
    ['fp16', sent(2), { compression: 'fp16' }],
    ['bf16, error feedback', sent(2), { compression: 'bf16', residuals }],
  ];
  lines.push(`### Compression: allReduce of ${n >> 20}M float32 (${(n * 4) >> 20} MiB), ${size} ranks`, '');
  lines.push('| compression | bytes each rank sends | allReduce, median (minimum) |', '|---|---:|---:|');
  for (const [name, bytes, options] of rows) lines.push(`| ${name} | ${bytes} | ${fmtMs(timeIt(() => dist.allReduce([x.fill(1)], options), reps))} |`);
  lines.push('');
}

async function digitsAccuracy(lines: string[]): Promise<void> {
  const { runDigitsJob, DEFAULT_DIGITS_CONFIG } = await import('../lib/cli/jobs/digits/job');
  const runsDir = path.join(os.tmpdir(), 'fusedoptim-bench-digits');
  const variants: Array<[string, dist.DistributedOptions]> = [
    ['float32 (none)', {}],
    ['bf16', { compression: 'bf16' }],
    ['bf16, error feedback', { compression: 'bf16', errorFeedback: true }],
    ['fp16', { compression: 'fp16' }],
    ['fp16, error feedback', { compression: 'fp16', errorFeedback: true }],
  ];
  lines.push(`### The digits job (${DEFAULT_DIGITS_CONFIG.epochs} epochs, seed ${DEFAULT_DIGITS_CONFIG.seed}) on ${dist.size()} ranks, gradients compressed`, '');
  lines.push('| compression | final val accuracy | best val accuracy | best val loss | seconds |', '|---|---:|---:|---:|---:|');
  for (const [name, distributed] of variants) {
    const job = await runDigitsJob({ runsDir, name: 'bench', force: true, quiet: true, distributed });
    const r = job.result;
    lines.push(
      `| ${name} | ${(100 * job.finalValAccuracy).toFixed(2)}% | ${(100 * job.bestValAccuracy).toFixed(2)}% | ${r.bestValLoss?.toFixed(4)} | ${r.seconds.toFixed(1)} |`,
    );
  }
  lines.push('');
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
  const all = ['bandwidth', 'buckets', 'fingerprint', 'step', 'memory', 'overlap', 'compression'];
  const sections = argv.includes('--sections') ? argv[argv.indexOf('--sections') + 1].split(',') : all;
  // --sizes 16: the bandwidth table for 16M elements alone (a 64M run takes minutes on a busy machine).
  const millions = argv.includes('--sizes') ? argv[argv.indexOf('--sizes') + 1].split(',').map(Number) : [1, 16, 64];
  if (sections.includes('bandwidth')) bandwidth(size, lines, millions);
  if (sections.includes('buckets')) buckets(lines);
  if (sections.includes('fingerprint')) fingerprint(lines);
  if (sections.includes('step')) await digitsStep(lines);
  if (sections.includes('memory')) memory(size, lines);
  // --layers 8,1024: the synthetic backward pass's layer count and KiB of gradients per layer (default 16 of 256 KiB).
  const [layers, kib] = argv.includes('--layers') ? argv[argv.indexOf('--layers') + 1].split(',').map(Number) : [16, 256];
  if (sections.includes('overlap')) overlap(lines, layers, kib * 256);
  if (sections.includes('compression')) compression(size, lines);
  if (sections.includes('digits')) await digitsAccuracy(lines);
  if (dist.rank() === 0) process.stdout.write(lines.join('\n'));
  return 0;
}
