/**
 * Compact state against float32 state where it matters, in training: a
 * two-layer network (tanh hidden layer, least-squares loss against a fixed
 * teacher network plus noise) trained for 2,000 full-batch steps; the final
 * loss with 8-bit or stochastically rounded bfloat16 state within 5% of
 * float32 state's. And 8-bit
 * state written with the older dynamic code map (test/fixtures/compact, by
 * main at 162eaa9) loads: recoded, exactly where the two codes share a value.
 */
import { expect } from 'chai';
import * as path from 'path';
import { AdamW, SGD } from '../lib';
import { SIGNED_CODE, UNSIGNED_CODE, encode8 } from '../lib/compact/code8';
import { COMPACT_BLOCK } from '../lib/compact/drivers';
import { SIGNED_CODE_MAP, UNSIGNED_CODE_MAP, isCodeMap } from '../lib/compact/code_maps';
import type { Optimizer } from '../lib/optim/core/optimizer';
import { createRng } from '../lib/seeded_rng';
import { loadCheckpoint, readCheckpoint } from '../lib/train/checkpoint';

type AnyOptimizer = Optimizer<{ lr: number }>;
type Ctor = new (params: Float32Array[], options: Record<string, unknown>) => AnyOptimizer;

// More targets (ROWS · OUT) than params, so the noise cannot be fitted: the loss has a floor.
const IN = 12, HIDDEN = 24, OUT = 2, ROWS = 512;

/** Inputs, and targets from a fixed random teacher network plus noise. */
function dataset() {
  const rng = createRng(7);
  const x = Float64Array.from({ length: ROWS * IN }, () => rng.normal());
  const w1 = Float64Array.from({ length: IN * HIDDEN }, () => rng.normal() / Math.sqrt(IN));
  const w2 = Float64Array.from({ length: HIDDEN * OUT }, () => (rng.normal() * 2) / Math.sqrt(HIDDEN));
  const y = new Float64Array(ROWS * OUT);
  for (let r = 0; r < ROWS; r++) {
    for (let o = 0; o < OUT; o++) {
      let s = 0;
      for (let h = 0; h < HIDDEN; h++) {
        let a = 0;
        for (let i = 0; i < IN; i++) a += x[r * IN + i] * w1[i * HIDDEN + h];
        s += Math.tanh(a) * w2[h * OUT + o];
      }
      y[r * OUT + o] = s + 0.1 * rng.normal();
    }
  }
  return { x, y };
}

/** Trains a student (params: w1, b1, w2, b2) for `steps` full-batch steps; returns the final loss. */
function train(Cls: Ctor, options: Record<string, unknown>, steps: number): number {
  const { x, y } = dataset();
  const rng = createRng(11);
  const w1 = Float32Array.from({ length: IN * HIDDEN }, () => rng.normal() / Math.sqrt(IN));
  const b1 = new Float32Array(HIDDEN);
  const w2 = Float32Array.from({ length: HIDDEN * OUT }, () => rng.normal() / Math.sqrt(HIDDEN));
  const b2 = new Float32Array(OUT);
  const params = [w1, b1, w2, b2];
  const grads = params.map((p) => new Float32Array(p.length));
  const opt = new Cls(params, { ...options, min8bitSize: 0 });
  const hidden = new Float64Array(HIDDEN), error = new Float64Array(OUT);
  const g = grads.map((p) => new Float64Array(p.length));
  let loss = 0;
  for (let step = 0; step <= steps; step++) {
    g.forEach((a) => a.fill(0));
    loss = 0;
    for (let r = 0; r < ROWS; r++) {
      for (let h = 0; h < HIDDEN; h++) {
        let a = b1[h];
        for (let i = 0; i < IN; i++) a += x[r * IN + i] * w1[i * HIDDEN + h];
        hidden[h] = Math.tanh(a);
      }
      for (let o = 0; o < OUT; o++) {
        let s = b2[o];
        for (let h = 0; h < HIDDEN; h++) s += hidden[h] * w2[h * OUT + o];
        error[o] = s - y[r * OUT + o];
        loss += (0.5 * error[o] * error[o]) / ROWS;
      }
      if (step === steps) continue;
      for (let h = 0; h < HIDDEN; h++) {
        let back = 0;
        for (let o = 0; o < OUT; o++) {
          g[2][h * OUT + o] += (hidden[h] * error[o]) / ROWS;
          back += w2[h * OUT + o] * error[o];
        }
        const d = (back * (1 - hidden[h] * hidden[h])) / ROWS;
        g[1][h] += d;
        for (let i = 0; i < IN; i++) g[0][i * HIDDEN + h] += x[r * IN + i] * d;
      }
      for (let o = 0; o < OUT; o++) g[3][o] += error[o] / ROWS;
    }
    if (step === steps) break;
    g.forEach((a, k) => grads[k].set(a));
    opt.step(grads);
  }
  return loss;
}

const CASES: Array<[string, Ctor, Record<string, unknown>]> = [
  ['AdamW', AdamW as unknown as Ctor, { lr: 3e-3, weightDecay: 1e-4 }],
  ['SGD momentum', SGD as unknown as Ctor, { lr: 0.05, momentum: 0.9 }],
];

describe('compact state: training quality (two-layer network, 2,000 steps)', function () {
  this.timeout(600_000);
  for (const [name, Cls, options] of CASES) {
    it(`${name}: final loss with 8-bit state${name === 'AdamW' ? ' and stochastically rounded bfloat16 state' : ''} within 5% of float32 state's`, () => {
      const full = train(Cls, options, 2000);
      // (bfloat16 rounded to nearest is left out: with β₂ = 0.999 a step changes v by less than
      // half a bfloat16 ulp, so v stalls; docs/compact-state.md gives its figure.)
      const storages: Array<[string, Record<string, unknown>]> = [
        ['int8', { stateDtype: 'int8' }],
        ['bfloat16 stochastic', { stateDtype: 'bfloat16', stochasticRounding: true, roundingSeed: 5 }],
      ];
      for (const [what, storage] of name === 'AdamW' ? storages : storages.slice(0, 1)) {
        const loss = train(Cls, { ...options, ...storage }, 2000);
        expect(Math.abs(loss - full) / full, `${what}: ${loss} against ${full}`).to.be.below(0.05);
      }
    });
  }
});

describe('compact state: 8-bit state of the older dynamic code map loads', () => {
  const FIXTURES: Array<[string, Ctor, Record<string, unknown>, string[]]> = [
    ['adamw-int8-dynamic-map.safetensors', AdamW as unknown as Ctor, { lr: 0.01 }, ['expAvg', 'expAvgSq']],
    ['sgd-int8-dynamic-map.safetensors', SGD as unknown as Ctor, { lr: 0.01, momentum: 0.9 }, ['momentumBuffer']],
  ];
  for (const [file, Cls, options, moments] of FIXTURES) {
    it(`${file}: recoded to the nearest code of today's, exact where the codes share a value; it steps on`, () => {
      const source = path.join(__dirname, 'fixtures', 'compact', file);
      const saved = readCheckpoint(source);
      const savedState = saved.optimizer!.stateDict.state;
      const lengths = saved.params.map((p) => p.data.length);
      const fresh = () => lengths.map((n) => new Float32Array(n));
      const live = new Cls(fresh(), { ...options, stateDtype: 'int8', min8bitSize: 0 });
      loadCheckpoint(source, { model: { params: live.paramGroups[0].params as Float32Array[] }, optimizer: live });
      const float32 = new Cls(fresh(), options);
      loadCheckpoint(source, { model: { params: float32.paramGroups[0].params as Float32Array[] }, optimizer: float32 });
      let shared = 0;
      lengths.forEach((n, i) => {
        for (const name of moments) {
          const signed = name !== 'expAvgSq';
          const [code, map] = signed ? [SIGNED_CODE, SIGNED_CODE_MAP] : [UNSIGNED_CODE, UNSIGNED_CODE_MAP];
          const old = savedState[i];
          const oldMap = old[`${name}Qmap`] as Float32Array;
          expect(isCodeMap(oldMap), 'the fixture holds an ascending older map').to.equal(true);
          const oldCodes = old[name] as Uint8Array, absmax = old[`${name}Absmax`] as Float32Array;
          const state = live.state[i];
          const liveMap = state[`${name}Qmap`] as Float32Array;
          expect(Buffer.from(liveMap.buffer, liveMap.byteOffset, liveMap.byteLength).equals(Buffer.from(map.buffer)), 'the live map').to.equal(true);
          expect(Array.from(state[`${name}Absmax`] as Float32Array)).to.deep.equal(Array.from(absmax));
          const codes = state[name] as Uint8Array;
          const widened = float32.state[i][name] as Float32Array;
          for (let e = 0; e < n; e++) {
            const scale = absmax[Math.floor(e / COMPACT_BLOCK)];
            expect(codes[e]).to.equal(encode8(code, oldMap[oldCodes[e]], 1));
            // Into float32 state: the older map's own values.
            expect(widened[e]).to.equal(Math.fround(oldMap[oldCodes[e]] * scale));
            if (map[codes[e]] === oldMap[oldCodes[e]]) {
              shared++;
              expect(Math.fround(map[codes[e]] * scale)).to.equal(widened[e]);
            } else {
              expect(Math.abs(map[codes[e]] - oldMap[oldCodes[e]])).to.be.at.most(Math.abs(oldMap[oldCodes[e]]) / 16 + 2 ** -22);
            }
          }
        }
      });
      // The unsigned codes share 1 (every block's absmax element); the signed ones only 0.
      if (moments.includes('expAvgSq')) expect(shared, 'elements whose code both maps share').to.be.above(0);
      // Native and JS step on from the recoded state alike.
      const grads = lengths.map((n, k) => Float32Array.from({ length: n }, (_, e) => Math.sin(e + k)));
      const js = new Cls(fresh(), { ...options, stateDtype: 'int8', min8bitSize: 0, backend: 'js' });
      loadCheckpoint(source, { model: { params: js.paramGroups[0].params as Float32Array[] }, optimizer: js });
      live.step(grads);
      js.step(grads);
      live.state.forEach((entry, i) => {
        for (const name of moments) expect(Buffer.from((entry[name] as Uint8Array)).equals(Buffer.from(js.state[i][name] as Uint8Array))).to.equal(true);
      });
      live.paramGroups[0].params.forEach((p, i) => expect(Buffer.from(p.buffer).equals(Buffer.from(js.paramGroups[0].params[i].buffer))).to.equal(true));
    });
  }
});
