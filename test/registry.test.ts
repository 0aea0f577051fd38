/**
 * The optimizer registry (lib/optim/registry.ts) and the one place each
 * optimizer is listed (lib/optim/index.ts): what reads it sees every
 * optimizer, capabilities come from the declarations, and the addon's kernel
 * table agrees with the TypeScript declarations row by row.
 */
import { expect } from 'chai';
import * as lib from '../lib';
import { OPTIMIZERS, findOptimizer } from '../lib/optim/registry';
import { loadAddon } from '../lib/native';
import { nativeKernelIndex } from '../lib/backend/native_backend';
import { snakeCase } from '../lib/kernels/kernel_def';
import { OPTIMIZER_NAMES, allVariants, kernelVariants } from './helpers/optimizers';
import { TABLE_KERNELS } from './helpers/kernels';

describe('registry', () => {
  it('lists every optimizer class the package exports, once, under its class name', () => {
    // Every class that builds an optimizer; an abstract base (ScheduleFreeOptimizer) declares no spec and builds none.
    const exported = Object.entries(lib).filter(
      ([, v]) => typeof v === 'function' && (v === lib.LBFGS || ((v as { prototype: unknown }).prototype instanceof lib.Optimizer && Object.prototype.hasOwnProperty.call(v, 'spec'))),
    );
    const classes = new Set(exported.map(([, v]) => v));
    expect(OPTIMIZERS.map((e) => e.class)).to.have.members([...classes]);
    for (const e of OPTIMIZERS) expect((lib as Record<string, unknown>)[e.name], e.name).to.equal(e.class);
    expect(new Set(OPTIMIZERS.map((e) => e.name)).size).to.equal(OPTIMIZERS.length);
  });

  it('derives capabilities from the declarations', () => {
    const caps = (name: string) => findOptimizer(name)!.capabilities;
    expect(caps('AdamW')).to.deep.equal({ compactState: true, shapes: false, perTensor: false, closure: false, modes: false });
    expect(caps('AdamWScheduleFree')).to.deep.equal({ compactState: true, shapes: false, perTensor: false, closure: false, modes: true });
    expect(caps('SGDScheduleFree')).to.include({ compactState: false, modes: true });
    expect(caps('Adafactor')).to.include({ shapes: true, perTensor: true, compactState: false });
    expect(caps('LAMB')).to.include({ perTensor: true });
    expect(caps('Rprop')).to.include({ compactState: false, perTensor: false });
    expect(caps('LBFGS')).to.deep.equal({ compactState: false, shapes: false, perTensor: false, closure: true, modes: false });
    for (const e of OPTIMIZERS) {
      if (e.spec === null) continue;
      expect(e.capabilities.compactState, e.name).to.equal('stateDtype' in e.spec.options);
    }
  });

  it("resolveOptions checks options as the class's constructor does and resolves its defaults, without building one", () => {
    const outcome = (fn: () => unknown) => {
      try {
        return { value: JSON.stringify(fn()) };
      } catch (err) {
        const e = err as Error & { code?: string };
        return { type: e.constructor.name, code: e.code, message: e.message };
      }
    };
    const inputs: unknown[] = [undefined, {}, { lr: 0.5 }, { lr: -1 }, { lr: 'x' }, { learningRate: 1 }, { backend: 'js' }, { backend: 'gpu' }, { betas: [1, 0.5] }, { momentum: 2 }, { stateDtype: 'int4' }, null, 5];
    for (const e of OPTIMIZERS) {
      if (e.resolveOptions === null) {
        expect(e.capabilities.closure, e.name).to.equal(true);
        continue;
      }
      const Class = e.class as unknown as new (params: Float32Array[], options?: unknown) => lib.AnyOptimizer;
      for (const input of inputs) {
        const resolved = outcome(() => e.resolveOptions!(input));
        const built = outcome(() => new Class([new Float32Array(1)], input).defaults);
        expect(resolved, `${e.name} ${JSON.stringify(input)}`).to.deep.equal(built);
      }
      // `where` names the options in messages in place of the class name.
      expect(() => e.resolveOptions!({ lr: -1 }, 'Mine')).to.throw(/^Mine: options\.lr: /);
    }
  });

  it('finds an optimizer by its name in any case, and nothing by another', () => {
    expect(findOptimizer('adamw')!.class).to.equal(lib.AdamW);
    expect(findOptimizer('SGD')!.class).to.equal(lib.SGD);
    expect(findOptimizer('AdaGrad')!.class).to.equal(lib.Adagrad);
    expect(findOptimizer('adam_w')).to.equal(undefined);
  });

  it('the test tables cover every step optimizer the registry lists', () => {
    const steps = OPTIMIZERS.filter((e) => !e.capabilities.closure).map((e) => e.name);
    expect([...OPTIMIZER_NAMES]).to.have.members(steps);
    const tested = new Set(allVariants().map((v) => v.optimizer));
    const perKernel = new Set(kernelVariants().map((v) => v.optimizer));
    for (const name of steps) {
      expect(tested.has(name as never), `allVariants() has no ${name}`).to.equal(true);
      expect(perKernel.has(name as never), `kernelVariants() has no ${name}`).to.equal(true);
    }
  });

  it("the addon's kernel table and the TypeScript declarations agree, row by row", function () {
    const rows = loadAddon().info().updateKernels;
    const declared = new Map(TABLE_KERNELS.map((k) => [k.name, k]));
    for (const row of rows) {
      const kernel = declared.get(row.name);
      expect(kernel, `the addon's row ${row.name} has no TypeScript declaration`).to.not.equal(undefined);
      // Slots, scalar names in order, element types and slot roles: nativeKernelIndex throws on any difference.
      expect(nativeKernelIndex(kernel!), row.name).to.equal(rows.indexOf(row));
      expect(row.scalars).to.deep.equal(kernel!.scalars.map(snakeCase));
    }
    for (const name of declared.keys()) expect(rows.some((r) => r.name === name), `no addon row for ${name}`).to.equal(true);
  });
});
