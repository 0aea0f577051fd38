/**
 * Two builds of fusedoptim in one process, interleaved: the way to compare
 * small per-call costs on a noisy machine, where two separate runs can differ
 * by more than what is being measured.
 *
 *   git worktree add /tmp/before <commit> && (cd /tmp/before && npm ci)
 *   npm run build && node dist/bench/compare-builds.js /tmp/before adam16|clip16|sgd16|adam1000x65own|adam1000x65
 *
 * Each build gets its own optimizer over its own tensors (1 thread); after a
 * warm-up the two alternate for 21 rounds (ABAB…, then BABA…), and the
 * medians and their ratio are printed.
 */
import * as path from 'path';

type Lib = typeof import('../lib');

const CASES = ['adam16', 'clip16', 'sgd16', 'adam1000x65own', 'adam1000x65'] as const;
type Case = (typeof CASES)[number];

function setup(lib: Lib, which: Case): { reps: number; perStep: number; run: () => void } {
  lib.setNumThreads(1);
  const filled = (t: Float32Array, salt: number) => {
    for (let i = 0; i < t.length; i++) t[i] = Math.sin(i + salt) * 0.5;
    return t;
  };
  if (which === 'adam1000x65own' || which === 'adam1000x65') {
    // 1000 tensors of 65 floats: each in its own ArrayBuffer (as users allocate them), or views of
    // one buffer per role (a model that keeps its parameters flat).
    const own = (salt: number) => Array.from({ length: 1000 }, (_, k) => filled(lib.alignedFloat32(65), k + salt));
    const flat = (salt: number) => {
      const buffer = lib.alignedFloat32(1000 * 80);
      return Array.from({ length: 1000 }, (_, k) => filled(buffer.subarray(k * 80, k * 80 + 65), k + salt));
    };
    const make = which === 'adam1000x65own' ? own : flat;
    const params = make(0);
    const grads = make(7);
    const opt = new lib.Adam(params, { lr: 1e-3 });
    return { reps: 300, perStep: 65_000, run: () => opt.step(grads) };
  }
  const params = [filled(lib.alignedFloat32(16), 1)];
  const grads = [filled(lib.alignedFloat32(16), 2)];
  const opt = which === 'sgd16' ? new lib.SGD(params, { lr: 1e-3 }) : new lib.Adam(params, { lr: 1e-3 });
  const options = { maxGradNorm: 1 };
  return { reps: 20_000, perStep: 1, run: which === 'clip16' ? () => opt.step(grads, options) : () => opt.step(grads) };
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1];
}

function main(): void {
  const [other, which] = process.argv.slice(2) as [string, Case];
  if (!other || !CASES.includes(which)) {
    console.error(`usage: node dist/bench/compare-builds.js <other checkout, built> <${CASES.join('|')}>`);
    process.exit(2);
  }
  const builds: Record<'other' | 'this', Lib> = {
    other: require(path.resolve(other, 'dist', 'lib')) as Lib,
    this: require(path.join(__dirname, '..', 'lib')) as Lib,
  };
  const cases = { other: setup(builds.other, which), this: setup(builds.this, which) };
  for (const c of Object.values(cases)) for (let i = 0; i < c.reps; i++) c.run();
  const samples: Record<'other' | 'this', number[]> = { other: [], this: [] };
  for (let round = 0; round < 21; round++) {
    for (const k of round % 2 ? (['other', 'this'] as const) : (['this', 'other'] as const)) {
      const c = cases[k];
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < c.reps; i++) c.run();
      samples[k].push(Number(process.hrtime.bigint() - t0) / c.reps / c.perStep);
    }
  }
  const unit = cases.this.perStep === 1 ? 'ns/step' : 'ns/param';
  const [a, b] = [median(samples.other), median(samples.this)];
  console.log(`${which}: other ${a.toPrecision(3)} ${unit}, this ${b.toPrecision(3)} ${unit}, this/other ${(b / a).toFixed(2)}`);
}

main();
