/**
 * LBFGS in checkpoints (lib/train/checkpoint.ts): its whole memory (the history pairs, ro,
 * d, t, hDiag, prevFlatGrad, the counts) is saved as safetensors tensors and metadata numbers,
 * and a run resumed from a checkpoint continues bit for bit as the uninterrupted run, on the
 * textbook's least-squares problem (float32 and float64, with and without the strong-Wolfe line
 * search, native and js). A damaged or mismatched checkpoint, or one saved or loaded while a
 * stepAsync runs, is refused with its code and changes nothing; `fusedoptim inspect` shows the
 * memory.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AdamW, LBFGS, StepLR } from '../lib';
import type { BackendName } from '../lib';
import { main } from '../lib/cli/main';
import { ErrorCodes } from '../lib/errors';
import type { ClosureResult, LBFGSOptions } from '../lib/optim/lbfgs/lbfgs';
import type { OptimizerStateDict } from '../lib/optim/core/optimizer';
import type { DType, StateArray, Tensor } from '../lib/tensor';
import { encodeCheckpoint, loadCheckpoint, readCheckpoint, saveCheckpoint, saveCheckpointAsync } from '../lib/train/checkpoint';
import { parseNumbers } from '../lib/train/history';
import { LeastSquares, loadQuadraticReference } from '../lib/cli/jobs/compare/least_squares';
import { expectAllBitIdentical, expectBitIdentical } from './helpers/bits';
import { captureIo } from './helpers/capture';
import { expectError } from './helpers/errors';

const ref = loadQuadraticReference();
const problem = new LeastSquares(ref.A, ref.b);

function tempFile(name = 'lbfgs.safetensors'): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-lbfgs-ck-')), name);
}

/**
 * The least-squares problem over two params (x split 3 + 2, the second shaped [1, 2]) of the
 * given dtype: the loss and gradient in float64, the gradient rounded to the params' type.
 */
function leastSquaresModel(dtype: DType, fill = 0) {
  const make = (n: number): Tensor => (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n)).fill(fill);
  const params = [make(3), make(problem.dimension - 3)];
  const grads = [make(3), make(problem.dimension - 3)];
  const closure = (): ClosureResult => {
    const x = Float64Array.from([...params[0], ...params[1]]);
    const g = new Float64Array(x.length);
    problem.gradient(x, g);
    grads[0].set(g.subarray(0, 3));
    grads[1].set(g.subarray(3));
    return { loss: problem.loss(x), grads };
  };
  return { params, paramShapes: [[3], [1, problem.dimension - 3]], paramNames: ['x.head', 'x.tail'], closure };
}

/** A run: the model, an LBFGS and a StepLR (`objects`: what a checkpoint saves and loads), and `steps(n)`. */
function setup(dtype: DType, backend: BackendName, options: Partial<LBFGSOptions>, fill = 0) {
  const model = leastSquaresModel(dtype, fill);
  const optimizer = new LBFGS(model.params, { backend, ...options });
  const scheduler = new StepLR(optimizer, { stepSize: 2, gamma: 0.5 });
  const steps = (n: number) => {
    for (let k = 0; k < n; k++) {
      optimizer.step(model.closure);
      scheduler.step();
    }
  };
  return { model, optimizer, scheduler, steps, objects: { model, optimizer, scheduler } };
}

/** Several iterations per step, and historySize 3: the history is full, and wraps, by the checkpoint. */
const RUN: Partial<LBFGSOptions> = { lr: 0.25, maxIter: 4, historySize: 3 };

function expectSameState(actual: OptimizerStateDict, expected: OptimizerStateDict, label: string): void {
  expect(actual.paramGroups, `${label}: paramGroups`).to.deep.equal(expected.paramGroups);
  expect(Object.keys(actual.state), `${label}: state`).to.deep.equal(Object.keys(expected.state));
  for (const [i, entry] of Object.entries(expected.state)) {
    const other = actual.state[Number(i)];
    expect(Object.keys(other).sort(), `${label}: state[${i}] keys`).to.deep.equal(Object.keys(entry).sort());
    for (const [key, value] of Object.entries(entry)) {
      if (typeof value === 'number') expect(other[key], `${label}: state[${i}].${key}`).to.equal(value);
      else expectBitIdentical(other[key] as StateArray, value, `${label}: state[${i}].${key}`);
    }
  }
}

describe('LBFGS checkpoints: exact resume on the least-squares problem', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const lineSearchFn of [null, 'strong_wolfe'] as const) {
      for (const backend of ['native', 'js'] as const) {
        it(`${dtype}, ${lineSearchFn ?? 'no line search'}, ${backend}: 3 steps, a checkpoint, fresh objects, 3 more = 6 steps straight`, async () => {
          const straight = setup(dtype, backend, { ...RUN, lineSearchFn });
          straight.steps(6);

          const first = setup(dtype, backend, { ...RUN, lineSearchFn });
          first.steps(3);
          const saved = first.optimizer.stateDict();
          // Something to resume: a full, wrapped history and iterations of the line search.
          expect((saved.state[0].ro as Float64Array).length).to.equal(3);
          expect((saved.state[0].oldDirs as Tensor).length).to.equal(3 * problem.dimension);
          if (lineSearchFn) expect(saved.state[0].funcEvals).to.be.greaterThan(saved.state[0].nIter as number);
          const file = tempFile();
          await saveCheckpointAsync(file, first.objects);

          // Other params, other options, another lr: all of it comes from the checkpoint.
          const resumed = setup(dtype, backend, { lr: 0.1 }, 7);
          loadCheckpoint(file, resumed.objects);
          expectSameState(resumed.optimizer.stateDict(), saved, 'loaded');
          const atCheckpoint = resumed.model.params.map((p) => p.slice());
          resumed.steps(3);

          expectAllBitIdentical(resumed.model.params, straight.model.params, 'params after 6 steps');
          expect(resumed.model.params.some((p, i) => p.some((v, k) => v !== atCheckpoint[i][k])), 'the last 3 steps moved the params').to.equal(true);
          expectSameState(resumed.optimizer.stateDict(), straight.optimizer.stateDict(), 'after 6 steps');
          expect(resumed.scheduler.stateDict()).to.deep.equal(straight.scheduler.stateDict());
          // The strongest form: the two runs' checkpoints are the same bytes.
          expect(Buffer.concat(encodeCheckpoint(resumed.objects)).equals(Buffer.concat(encodeCheckpoint(straight.objects)))).to.equal(true);
        });
      }
    }
  }

  it('the file: the memory as optim.0.* tensors (param dtype, ro F64) and numbers in the metadata; class "LBFGS"', () => {
    const run = setup('float32', 'js', RUN);
    run.steps(3);
    const file = tempFile();
    saveCheckpoint(file, run.objects);
    const ck = readCheckpoint(file);
    expect(ck.optimizer!.class).to.equal('LBFGS');
    const header = (name: string) => ({ dtype: ck.tensors.get(name)!.dtype, shape: ck.tensors.get(name)!.shape });
    expect(header('optim.0.d')).to.deep.equal({ dtype: 'F32', shape: [5] });
    expect(header('optim.0.prevFlatGrad')).to.deep.equal({ dtype: 'F32', shape: [5] });
    expect(header('optim.0.oldDirs')).to.deep.equal({ dtype: 'F32', shape: [15] });
    expect(header('optim.0.oldStps')).to.deep.equal({ dtype: 'F32', shape: [15] });
    expect(header('optim.0.ro')).to.deep.equal({ dtype: 'F64', shape: [3] });
    expect(Object.keys(JSON.parse(ck.metadata.optimizer).state[0]).sort()).to.deep.equal(['funcEvals', 'hDiag', 'nIter', 'prevLoss', 't']);
  });

  it('an LBFGS that has not stepped: no memory in the file, and loading one clears a live memory', () => {
    const fresh = setup('float64', 'js', RUN);
    const file = tempFile();
    saveCheckpoint(file, fresh.objects);
    expect([...readCheckpoint(file).tensors.keys()].sort()).to.deep.equal(['param.0', 'param.1']);
    const trained = setup('float64', 'js', RUN, 1);
    trained.steps(2);
    loadCheckpoint(file, trained.objects);
    expect(trained.optimizer.stateDict().state).to.deep.equal({});
  });
});

describe('LBFGS checkpoints that do not fit, or are damaged: a coded error, nothing changed', () => {
  /** A trained LBFGS run to load into, and a check that nothing of it changed. */
  function live(dtype: DType = 'float64') {
    const run = setup(dtype, 'js', { maxIter: 3 }, 2);
    run.steps(2);
    const params = run.model.params.map((p) => p.slice());
    const state = run.optimizer.stateDict();
    const scheduler = JSON.stringify(run.scheduler.stateDict());
    const expectUntouched = (what: string) => {
      expectAllBitIdentical(run.model.params, params, `${what}: params`);
      expectSameState(run.optimizer.stateDict(), state, `${what}: optimizer`);
      expect(JSON.stringify(run.scheduler.stateDict()), `${what}: scheduler`).to.equal(scheduler);
    };
    return { run, expectUntouched };
  }

  /** A sound file (its checksum right) whose LBFGS state dict was edited before it was written. */
  function fileWith(edit: (sd: Record<string, any>) => void): Buffer {
    const src = setup('float64', 'js', RUN);
    src.steps(3);
    const sd = src.optimizer.stateDict() as unknown as Record<string, any>;
    edit(sd);
    src.optimizer.stateDict = () => sd as OptimizerStateDict;
    return Buffer.concat(encodeCheckpoint(src.objects));
  }

  const mismatches: Array<[string, (sd: Record<string, any>) => void, string]> = [
    ['history pairs of the wrong length', (sd) => (sd.state[0].oldDirs = new Float64Array(14)), 'state[0].oldDirs: expected 15 elements'],
    ['ro of float32', (sd) => (sd.state[0].ro = new Float32Array(3)), 'state[0].ro: expected a Float64Array'],
    ['d of float32 for float64 params', (sd) => (sd.state[0].d = new Float32Array(5)), 'state[0].d: expected a Float64Array'],
    ['d without prevFlatGrad', (sd) => delete sd.state[0].prevFlatGrad, 'state[0].prevFlatGrad'],
    ['no nIter', (sd) => delete sd.state[0].nIter, 'state[0].nIter'],
    ['an unknown entry', (sd) => (sd.state[0].al = new Float64Array(3)), 'has an entry "al"'],
    ['more pairs than historySize', (sd) => (sd.paramGroups[0].historySize = 2), '3 history pairs, more than historySize 2'],
    ['params of the group out of order', (sd) => (sd.paramGroups[0].params = [1, 0]), 'paramGroups[0].params[0]'],
    ['an invalid option', (sd) => (sd.paramGroups[0].maxIter = 0), 'maxIter'],
    ['memory on param 1', (sd) => (sd.state[1] = { funcEvals: 1 }), 'param 0 only'],
  ];
  for (const [what, edit, mention] of mismatches) {
    it(`${what}: ERR_CHECKPOINT_MISMATCH`, () => {
      const bytes = fileWith(edit);
      expect(() => readCheckpoint(bytes)).not.to.throw(); // sound, just not an LBFGS memory
      const { run, expectUntouched } = live();
      expectError(() => loadCheckpoint(bytes, run.objects), { type: RangeError, code: ErrorCodes.CHECKPOINT_MISMATCH, mentions: ['optimizer: LBFGS: loadStateDict', mention] }, what);
      expectUntouched(what);
    });
  }

  it('another optimizer class either way, or params of another dtype: ERR_CHECKPOINT_MISMATCH', () => {
    const lbfgsFile = fileWith(() => undefined);
    const { run, expectUntouched } = live();
    const adamw = new AdamW(run.model.params, { lr: 0.1, backend: 'js' });
    const adamwFile = Buffer.concat(encodeCheckpoint({ model: run.model, optimizer: adamw }));
    expectError(() => loadCheckpoint(adamwFile, run.objects), { type: RangeError, code: ErrorCodes.CHECKPOINT_MISMATCH, mentions: ['state of a AdamW optimizer, not of a LBFGS'] });
    expectError(() => loadCheckpoint(lbfgsFile, { model: run.model, optimizer: adamw }), { type: RangeError, code: ErrorCodes.CHECKPOINT_MISMATCH, mentions: ['state of a LBFGS optimizer, not of a AdamW'] });
    expectUntouched('another class');
    const single = live('float32');
    expectError(() => loadCheckpoint(lbfgsFile, single.run.objects), { type: RangeError, code: ErrorCodes.CHECKPOINT_MISMATCH, mentions: ['param.0 is F64'] });
    single.expectUntouched('float32');
  });

  it('any byte flipped: ERR_CHECKPOINT_CORRUPT', () => {
    const good = fileWith(() => undefined);
    const { run, expectUntouched } = live();
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i] ^= 0x01;
      expectError(() => loadCheckpoint(bad, run.objects), { type: RangeError, code: ErrorCodes.CHECKPOINT_CORRUPT, mentions: [] }, `byte ${i}`);
    }
    expectUntouched('flipped bytes');
  });

  it('while a stepAsync runs: saving and loading throw ERR_STEP_IN_FLIGHT, and work once it settled', async () => {
    const { run } = live();
    const file = tempFile();
    saveCheckpoint(file, run.objects);
    const before = fs.readFileSync(file);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const pending = run.optimizer.stepAsync(async () => {
      await gate;
      return run.model.closure();
    });
    const inFlight = { type: RangeError, code: ErrorCodes.STEP_IN_FLIGHT, mentions: ['LBFGS: stateDict'] };
    expectError(() => saveCheckpoint(file, run.objects), inFlight);
    expect(fs.readFileSync(file).equals(before), 'the file').to.equal(true);
    expectError(() => loadCheckpoint(file, run.objects), { ...inFlight, mentions: ['LBFGS: loadStateDict'] });
    expectError(() => run.optimizer.step(run.model.closure), { ...inFlight, mentions: ['LBFGS: step'] });
    release();
    await pending;
    expect(run.optimizer.busy).to.equal(false);
    saveCheckpoint(file, run.objects);
    loadCheckpoint(file, run.objects);
  });

  it('saveCheckpoint refuses an object that is not an optimizer of this library', () => {
    const { run } = live();
    const impostor = { kind: 'LBFGS', stateDict: () => run.optimizer.stateDict(), loadStateDict: () => undefined };
    expectError(() => saveCheckpoint(tempFile(), { model: run.model, optimizer: impostor }), {
      type: TypeError,
      code: ErrorCodes.INVALID_ARG_TYPE,
      mentions: ['checkpoint.optimizer', 'an Optimizer or LBFGS'],
    });
  });
});

describe('fusedoptim inspect: an LBFGS checkpoint', () => {
  const run = setup('float64', 'js', RUN);
  run.steps(3);
  const file = tempFile();
  before(() => saveCheckpoint(file, run.objects));

  it('shows the options and the memory: its numbers, and its buffers among the tensors', async () => {
    const io = captureIo();
    expect(await main(['inspect', file], io), io.err()).to.equal(0);
    const out = io.out();
    expect(out).to.match(/^optimizer: LBFGS group 0 \(2 params\): lr=0\.125 maxIter=4 maxEval=5 .*historySize=3 lineSearchFn=null initialLr=0\.25$/m);
    const s = run.optimizer.stateDict().state[0];
    expect(out).to.include(`state of param 0: funcEvals=${s.funcEvals} nIter=${s.nIter} t=`);
    expect(out).not.to.include('step counts');
    expect(out).to.match(/^ {2}optim\.0\.oldDirs +F64 +\[15\] +15 /m);
    expect(out).to.match(/^ {2}optim\.0\.ro +F64 +\[3\] +3 /m);
  });

  it('--json: the memory\'s numbers under metadata.optimizer.state', async () => {
    const io = captureIo();
    expect(await main(['inspect', file, '--json'], io)).to.equal(0);
    const doc = parseNumbers(io.out()) as { metadata: { optimizer: { class: string; state: Record<string, Record<string, number>> } } };
    expect(doc.metadata.optimizer.class).to.equal('LBFGS');
    const s = run.optimizer.stateDict().state[0];
    expect(doc.metadata.optimizer.state).to.deep.equal({ 0: { funcEvals: s.funcEvals, nIter: s.nIter, t: s.t, hDiag: s.hDiag, prevLoss: s.prevLoss } });
  });
});
