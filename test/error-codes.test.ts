/**
 * Stable error codes (issue 6): every code in lib/errors.ts is produced by
 * something a user can do, arrives on a TypeError or RangeError as documented,
 * and is recognised by isFusedOptimError; errors from the native boundary carry
 * the same codes. The table below is typed Record<ErrorCode, ...>, so a code
 * added to ErrorCodes without a way to produce it does not compile.
 */
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as path from 'path';
import {
  Adam,
  SGDScheduleFree,
  ErrorCodes,
  FusedOptimRangeError,
  FusedOptimTypeError,
  SGD,
  isFusedOptimError,
  setNumThreads,
} from '../lib';
import type { ErrorCode } from '../lib';
import { loadAddon } from '../lib/native';
import { failingBindings } from './helpers/child';
import { detach } from './helpers/buffers';
import { expectFailure } from './helpers/errors';
import { sgdKernel } from '../lib/kernels/sgd';
import { accumulateKernel } from '../lib/kernels/elementwise';
import { row } from './helpers/kernels';

const p = () => [new Float32Array(4).fill(1)];
const g = () => [new Float32Array(4).fill(0.5)];

type Trigger = { kind: TypeErrorConstructor | RangeErrorConstructor; message: RegExp; produce: () => unknown };

const TRIGGERS: Record<ErrorCode, Trigger> = {
  [ErrorCodes.INVALID_ARG_TYPE]: {
    kind: TypeError,
    message: /Adam: params\[0\]\.params\[0\]: expected a Float32Array or Float64Array, got/,
    produce: () => new Adam([{ params: ['not a tensor' as unknown as Float32Array] }]),
  },
  [ErrorCodes.INVALID_ARG_VALUE]: {
    kind: RangeError,
    message: /SGD: options: unknown option "momentun"/i,
    produce: () => new SGD(p(), { momentun: 0.9 } as never),
  },
  [ErrorCodes.OUT_OF_RANGE]: {
    kind: RangeError,
    message: /Adam: options\.lr/,
    produce: () => new Adam(p(), { lr: -1 }),
  },
  [ErrorCodes.SHAPE_MISMATCH]: {
    kind: RangeError,
    message: /Adam: step: grads\[0\]: expected length 4 like params\[0\], got length 3/,
    produce: () => new Adam(p()).step([new Float32Array(3)]),
  },
  [ErrorCodes.DTYPE_MISMATCH]: {
    kind: TypeError,
    message: /Adam: step: grads\[0\]: expected a Float32Array like params\[0\]/,
    produce: () => new Adam(p()).step([new Float64Array(4)]),
  },
  [ErrorCodes.DETACHED_BUFFER]: {
    kind: TypeError,
    message: /Adam: step: grads\[0\]: its ArrayBuffer is detached/,
    produce: () => {
      const grads = g();
      detach(grads[0]);
      return new Adam(p()).step(grads);
    },
  },
  [ErrorCodes.NON_FINITE]: {
    kind: RangeError,
    message: /Adam: step: the total norm of order 2 of the gradients is NaN; nothing was changed/,
    produce: () => new Adam(p()).step([Float32Array.of(NaN, 0, 0, 0)], { maxGradNorm: 1, errorIfNonfinite: true }),
  },
  [ErrorCodes.NOT_IN_TRAIN_MODE]: {
    kind: RangeError,
    message: /SGDScheduleFree: step: paramGroups\[0\]: the group is in eval mode .*call train\(\) before stepping/,
    produce: () => new SGDScheduleFree(p()).step(g()),
  },
  [ErrorCodes.STEP_IN_FLIGHT]: {
    kind: RangeError,
    message: /Adam: step: an asynchronous step is still running on this optimizer; await it first/,
    produce: async () => {
      const opt = new Adam(p());
      const flight = opt.stepAsync(g());
      try {
        opt.step(g());
      } finally {
        await flight;
      }
    },
  },
  [ErrorCodes.STATE_DICT_MISMATCH]: {
    kind: RangeError,
    message: /Adam: loadStateDict: stateDict\.paramGroups has 2 groups, the optimizer 1/,
    produce: () => {
      const two = new Adam([{ params: p() }, { params: p() }]).stateDict();
      new Adam(p()).loadStateDict(two);
    },
  },
  [ErrorCodes.CHECKPOINT_CORRUPT]: {
    kind: RangeError,
    message: /safetensors: /,
    produce: () => {
      // Required here rather than imported above: the checkpoint modules are another area's, and
      // only this row depends on them.
      const { parseSafetensors } = require('../lib/train/safetensors') as typeof import('../lib/train/safetensors');
      return parseSafetensors(new Uint8Array([1, 2, 3]));
    },
  },
  [ErrorCodes.CHECKPOINT_MISMATCH]: {
    kind: RangeError,
    message: /checkpoint: it has 1 params, the model 2/,
    produce: () => {
      const { encodeCheckpoint, loadCheckpoint } = require('../lib/train/checkpoint') as typeof import('../lib/train/checkpoint');
      const bytes = new Uint8Array(Buffer.concat(encodeCheckpoint({ model: { params: p() } })));
      return loadCheckpoint(bytes, { model: { params: [...p(), ...p()] } });
    },
  },
  [ErrorCodes.ADDON_NOT_LOADED]: {
    kind: TypeError,
    message: /fusedoptim: the native addon could not be loaded \(.*\)\. Build it with/,
    produce: () => {
      // The addon cannot be unloaded from this process: load the library in a child whose
      // `bindings` fails the way it does when the addon was never built, and rethrow what it saw.
      const script = [
        ...failingBindings('Could not locate the bindings file. Tried: build/Release/fusedoptim.node'),
        "const { Adam } = require('./lib');",
        "new Adam([new Float32Array(2)], { backend: 'js' }).step([new Float32Array(2)]);",
        'try { new Adam([new Float32Array(2)]); console.log(JSON.stringify({ threw: false })); }',
        'catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }',
      ].join('\n');
      const out = JSON.parse(
        execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
          cwd: path.join(__dirname, '..'),
          encoding: 'utf8',
        }),
      );
      const Kind = out.name === 'TypeError' ? FusedOptimTypeError : FusedOptimRangeError;
      throw new Kind(out.code, out.message);
    },
  },
  [ErrorCodes.MPI_NOT_AVAILABLE]: {
    kind: TypeError,
    message: /fusedoptim\/distributed: the MPI addon could not be loaded\. Tried: .*fusedoptim_mpi\.node.*npm rebuild fusedoptim/,
    produce: () => {
      // As for ADDON_NOT_LOADED: in a child whose `bindings` cannot find the MPI addon.
      const script = [
        ...failingBindings('Could not locate the bindings file. Tried: build/Release/fusedoptim_mpi.node'),
        "try { require('./lib/distributed').init(); console.log(JSON.stringify({ threw: false })); }",
        'catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }',
      ].join('\n');
      const out = JSON.parse(
        execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: path.join(__dirname, '..'), encoding: 'utf8' }),
      );
      const Kind = out.name === 'TypeError' ? FusedOptimTypeError : FusedOptimRangeError;
      throw new Kind(out.code, out.message);
    },
  },
  [ErrorCodes.MPI_NOT_INITIALIZED]: {
    kind: RangeError,
    message: /fusedoptim\/distributed: allReduce: MPI is not initialised; call init\(\) first/,
    produce: () => {
      // With or without the MPI addon: the check comes first.
      const { allReduce } = require('../lib/distributed') as typeof import('../lib/distributed');
      return allReduce([new Float32Array(2)]);
    },
  },
  [ErrorCodes.COLLECTIVE_MISMATCH]: {
    kind: RangeError,
    message: /fusedoptim\/distributed: allReduce \(collective #0 on rank 1\): the ranks disagree, nothing was communicated: rank 1 has tensor count 2 where rank 0 has 1/,
    produce: () => {
      // What every rank does with the fingerprints the addon exchanged, given two ranks' records.
      const { fingerprintOf, throwMismatch } = require('../lib/distributed/fingerprint') as typeof import('../lib/distributed/fingerprint');
      const call = { sequence: 0, kind: 0, op: 0, root: 0, deterministic: false };
      const records = [fingerprintOf({ ...call, tensors: p() }), fingerprintOf({ ...call, tensors: [...p(), ...p()] })];
      return throwMismatch(Float64Array.from([...records[0], ...records[1]]), 1, 'allReduce');
    },
  },
  [ErrorCodes.RANK_LOST]: {
    kind: RangeError,
    message: /fusedoptim\/distributed: allReduce \(collective #7 on rank 0\): rank 1 is gone \(its process 4321 on this machine ended: it died or was killed\)/,
    produce: () => {
      // What a rank does with the addon's report that a rank it waited for is gone (test/distributed.faults.test.ts kills one).
      const { settleOutcome } = require('../lib/distributed/outcome') as typeof import('../lib/distributed/outcome');
      return settleOutcome({ lostRank: 1, pid: 4321 }, 0, 'allReduce', 7);
    },
  },
};

describe('error codes', () => {
  it('the table covers exactly the codes of lib/errors.ts', () => {
    expect(Object.keys(TRIGGERS).sort()).to.deep.equal(Object.values(ErrorCodes).sort());
  });

  for (const code of Object.values(ErrorCodes)) {
    const trigger = TRIGGERS[code];
    it(`${code} is produced, on a ${trigger.kind.name}, with a message that names the argument`, async () => {
      const caught = await expectFailure(trigger.produce, { type: trigger.kind, code, mentions: [trigger.message] });
      expect(isFusedOptimError(caught)).to.equal(true);
    });
  }

  describe('the native boundary (a second line behind the TypeScript checks)', () => {
    const addon = loadAddon();
    const cases: Array<[string, () => unknown, string]> = [
      ['a non-array batch', () => addon.update(row(sgdKernel), 'x' as never, new Float64Array(6), 1), ErrorCodes.INVALID_ARG_TYPE],
      ['an Int32Array in the batch', () => addon.update(row(accumulateKernel), [new Float32Array(2), new Int32Array(2) as never], Float64Array.of(1), 1), ErrorCodes.INVALID_ARG_TYPE],
      ['buffers of unequal length', () => addon.update(row(accumulateKernel), [new Float32Array(2), new Float32Array(3)], Float64Array.of(1), 1), ErrorCodes.SHAPE_MISMATCH],
      ['a batch that is not a multiple of the slots', () => addon.update(row(accumulateKernel), [new Float32Array(2)], Float64Array.of(1), 1), ErrorCodes.SHAPE_MISMATCH],
      ['mixed dtypes', () => addon.updateAsync(row(accumulateKernel), [new Float32Array(2), new Float64Array(2)], Float64Array.of(1), 1), ErrorCodes.DTYPE_MISMATCH],
      ['scalars of the wrong count', () => addon.update(row(accumulateKernel), [new Float32Array(2), new Float32Array(2)], Float64Array.of(1, 2), 1), ErrorCodes.SHAPE_MISMATCH],
      ['an unknown kernel', () => addon.update(99, [], new Float64Array(0), 1), ErrorCodes.OUT_OF_RANGE],
      ['0 threads', () => addon.reduce(0, [new Float32Array(2)], 2, 0), ErrorCodes.OUT_OF_RANGE],
      ['a NaN norm order', () => addon.reduceAsync(0, [new Float32Array(2)], NaN, 1), ErrorCodes.NON_FINITE],
    ];
    for (const [what, call, code] of cases) {
      it(`${what}: ${code}`, () => {
        let caught: unknown;
        try {
          call();
        } catch (err) {
          caught = err;
        }
        expect(isFusedOptimError(caught), String(caught)).to.equal(true);
        expect((caught as { code: string }).code).to.equal(code);
      });
    }
  });

  it('setNumThreads errors carry codes too (a function outside the optimizers)', () => {
    expect(() => setNumThreads(0)).to.throw(RangeError).with.property('code', ErrorCodes.OUT_OF_RANGE);
  });
});
