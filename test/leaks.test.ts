/**
 * Leaks: thousands of create / step / stepAsync / plan / destroy cycles of every optimizer, on
 * both backends, and worker threads that load the addon (from dist/, which `npm test` builds) and exit, in a child process started
 * with --expose-gc. After a warm-up, resident memory (RSS) and `process.memoryUsage().external`
 * (the ArrayBuffers and native memory V8 is told about) must stay flat: growth under a bound far
 * below what one leaked object per cycle would cost.
 *
 * The bound: each cycle allocates ~40 KiB of tensors and state, so a cycle that kept its buffers
 * would grow external memory by ~40 KiB × cycles (tens of MiB); a leaked plan or async worker
 * per cycle would show in RSS the same way. Allowed: 8 MiB of external growth and 32 MiB of RSS
 * growth (the allocator and V8's heap settle in steps).
 */
import { expect } from 'chai';
import { describeExit, runNodeChild } from './helpers/child';

const CYCLES = Number(process.env.FUSEDOPTIM_LEAK_CYCLES ?? 2000);
const WORKERS = 8;
const EXTERNAL_BOUND_MIB = 8;
const RSS_BOUND_MIB = 32;

const SCRIPT = `
const { Worker } = require('worker_threads');
const lib = require('./lib');
const MiB = 1 << 20;
const classes = [
  (p, b) => new lib.SGD(p, { lr: 0.1, momentum: 0.9, backend: b }),
  (p, b) => new lib.Adam(p, { lr: 0.01, backend: b }),
  (p, b) => new lib.AdamW(p, { lr: 0.01, amsgrad: true, backend: b }),
  (p, b) => new lib.Adagrad(p, { lr: 0.01, backend: b }),
  (p, b) => new lib.RMSprop(p, { lr: 0.01, centered: true, momentum: 0.5, backend: b }),
  (p, b) => new lib.Lion(p, { lr: 0.001, backend: b }),
];
async function cycle(i) {
  const backend = i % 4 === 3 ? 'js' : 'native';
  const params = [new Float32Array(2048).fill(1), new Float32Array(1000).fill(1)];
  const grads = params.map((p) => new Float32Array(p.length).fill(0.01));
  const opt = classes[i % classes.length]([{ params: [params[0]] }, { params: [params[1]] }], backend);
  opt.step(grads);
  opt.step(grads); // the cached step, through plans
  opt.step(grads, { maxGradNorm: 1 });
  await opt.stepAsync(grads.map((g) => g.slice()));
  lib.clipGradNorm(grads, 1);
  await lib.clipGradNormAsync(grads, 1);
  try { opt.step([grads[0], new Float32Array(3)]); } catch (e) { if (!e.code) throw e; } // a refused step
}
function worker() {
  return new Promise((resolve, reject) => {
    // The compiled library (npm test builds dist/ first): a worker that starts fast.
    const w = new Worker("const lib = require(process.cwd() + '/dist/lib'); new lib.Adam([new Float32Array(64)], { lr: 0.1 }).step([new Float32Array(64)]);",
      { eval: true });
    w.once('error', reject);
    w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error('worker exit ' + code))));
  });
}
async function settle() {
  for (let i = 0; i < 3; i++) { await new Promise((r) => setImmediate(r)); global.gc(); }
  const m = process.memoryUsage();
  return { rss: m.rss / MiB, external: m.external / MiB };
}
(async () => {
  const cycles = Number(process.env.LEAK_CYCLES), workers = Number(process.env.LEAK_WORKERS);
  for (let i = 0; i < cycles / 5; i++) await cycle(i); // warm-up: caches, the thread pool, JIT
  await worker();
  const start = await settle();
  for (let i = 0; i < cycles; i++) await cycle(i);
  for (let i = 0; i < workers; i++) await worker();
  const end = await settle();
  console.log(JSON.stringify({ start, end }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe('leaks: create / step / stepAsync / plan / destroy cycles and worker threads', function () {
  this.timeout(900_000);
  it(`${CYCLES} cycles and ${WORKERS} workers: RSS and external memory flat`, () => {
    const started = Date.now();
    const child = runNodeChild(SCRIPT, { nodeFlags: ['--expose-gc'], timeoutMs: 850_000, env: { LEAK_CYCLES: String(CYCLES), LEAK_WORKERS: String(WORKERS) } });
    expect(child.status, describeExit(child)).to.equal(0);
    const { start, end } = JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<'start' | 'end', { rss: number; external: number }>;
    const growth = { rss: end.rss - start.rss, external: end.external - start.external };
    console.log(
      `      RSS ${start.rss.toFixed(1)} → ${end.rss.toFixed(1)} MiB (${growth.rss >= 0 ? '+' : ''}${growth.rss.toFixed(1)}), ` +
        `external ${start.external.toFixed(2)} → ${end.external.toFixed(2)} MiB (${growth.external >= 0 ? '+' : ''}${growth.external.toFixed(2)}); ` +
        `${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
    expect(growth.external, 'external memory grew').to.be.below(EXTERNAL_BOUND_MIB);
    expect(growth.rss, 'RSS grew').to.be.below(RSS_BOUND_MIB);
  });
});
