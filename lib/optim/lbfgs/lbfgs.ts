/**
 * L-BFGS, as torch.optim.LBFGS runs it (torch/optim/lbfgs.py, after minFunc):
 * each `step(closure)` runs up to maxIter iterations of
 *
 *   d ← −H·g            the two-loop recursion over the last historySize pairs
 *                       (s = t·d, y = g_new − g_old, kept when yᵀs > 1e-10),
 *                       H₀ = yᵀs / yᵀy of the newest pair
 *   t ← lr              (min(1, 1/Σ|g|)·lr on the very first iteration)
 *   θ ← θ + t·d         with t from the strong-Wolfe line search when lineSearchFn
 *                       is 'strong_wolfe', else fixed
 *
 * stopping early when max|g| <= toleranceGrad, gᵀd > −toleranceChange,
 * max|t·d| <= toleranceChange, the loss changed by less than toleranceChange, or
 * maxEval closure calls were spent. The closure returns the loss and the
 * gradients at the params as they are now ({ loss, grads }); it is called
 * several times per step. One param group, as in PyTorch.
 *
 * The vector work runs on the optimizer's backend (flat_vectors.ts): axpy,
 * scaling and the max/sum reductions are native kernel calls. The algorithm is
 * a generator that yields whenever it needs the closure (line_search.ts), so
 * `step` (a synchronous closure) and `stepAsync` (a closure that may return a
 * Promise) share every line of it.
 *
 * Its stateDict holds the whole memory, so checkpoints (lib/train/checkpoint.ts)
 * carry it like any optimizer's state: a resumed run continues bit for bit.
 */
import { Backend, BackendName, getBackend } from '../../backend';
import { ErrorCodes, makeError } from '../../errors';
import { StateArray, Tensor, dtypeOf, engineView, typedArrayTag } from '../../tensor';
import { zerosLike } from '../../alloc';
import { checkArray, checkFunction, checkNoOverlap, checkNumber, checkObject, checkOptions, checkTensor, checkTensorList, checkLike, describe } from '../../validate';
import { FlatVectors } from './flat_vectors';
import { Evaluating, Evaluation, strongWolfe } from './line_search';
import { isGroupLike } from '../core/param_groups';
import type { OptimizerStateDict } from '../core/state_dict';

/** The options of LBFGS, PyTorch's in camelCase. */
export type LBFGSOptions = {
  /** The step length γ of each iteration (with a line search, its first trial). */
  lr: number;
  /** Iterations per step. */
  maxIter: number;
  /** Closure calls per step; default ⌊maxIter·5/4⌋ of the constructor's maxIter. */
  maxEval: number;
  /** Stop when the largest absolute gradient element is at most this. */
  toleranceGrad: number;
  /** Stop when the step or the loss changes by less than this. */
  toleranceChange: number;
  /** How many past (step, gradient change) pairs the Hessian approximation keeps. */
  historySize: number;
  /** The line search: none (a fixed step of lr), or the strong-Wolfe search. */
  lineSearchFn: null | 'strong_wolfe';
};

/** What the closure returns: the loss and one gradient per param (null: zeros), at the params as they are. */
export interface ClosureResult {
  /** The loss at the params as they are. */
  loss: number;
  /** One gradient per param (null for zeros), aligned with the params. */
  grads: ReadonlyArray<Tensor | null>;
}

/** What LBFGS.step calls: the loss and the gradients at the current params. */
export type LBFGSClosure = () => ClosureResult;
/** What LBFGS.stepAsync calls: the loss and the gradients, or a Promise of them. */
export type LBFGSAsyncClosure = () => ClosureResult | Promise<ClosureResult>;

/** LBFGS's one param group: its options, its params, and any other key a scheduler stores (`initialLr`). */
export type LBFGSParamGroup = LBFGSOptions & {
  /** The params, as the constructor was given them. */
  params: Tensor[];
  [extra: string]: unknown;
};

/** The optimizer's memory between steps (PyTorch keeps it as the state of the first param). */
interface History {
  funcEvals: number;
  nIter: number;
  d: Tensor | null;
  t: number;
  oldDirs: Tensor[];
  oldStps: Tensor[];
  ro: number[];
  hDiag: number;
  prevFlatGrad: Tensor | null;
  prevLoss: number;
}

const NAME = 'LBFGS';
/** The entries of the memory in a state dict (PyTorch's `al` is scratch, rewritten before it is read: not kept). */
const HISTORY_KEYS = ['funcEvals', 'nIter', 'd', 't', 'oldDirs', 'oldStps', 'ro', 'hDiag', 'prevFlatGrad', 'prevLoss'];
const INTEGER_AT_LEAST_1 = { integer: true, min: 1 } as const;

function checkHyper(where: string, raw: Record<string, unknown>, base: LBFGSOptions | null): LBFGSOptions {
  const pick = <K extends keyof LBFGSOptions>(key: K, fallback: LBFGSOptions[K]): unknown => (raw[key] === undefined ? fallback : raw[key]);
  const maxIter = checkNumber(`${where}.maxIter`, pick('maxIter', base?.maxIter ?? 20), INTEGER_AT_LEAST_1);
  const lineSearchFn = pick('lineSearchFn', base?.lineSearchFn ?? null);
  if (lineSearchFn !== null && lineSearchFn !== 'strong_wolfe') {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${where}.lineSearchFn: expected null or 'strong_wolfe', got ${describe(lineSearchFn)}`);
  }
  return {
    lr: checkNumber(`${where}.lr`, pick('lr', base?.lr ?? 1), { min: 0 }),
    maxIter,
    // PyTorch: max_eval defaults to max_iter * 5 // 4, resolved once from the
    // constructor's options (a group that sets only maxIter keeps that maxEval).
    maxEval: checkNumber(`${where}.maxEval`, pick('maxEval', base?.maxEval ?? Math.floor((maxIter * 5) / 4)), INTEGER_AT_LEAST_1),
    toleranceGrad: checkNumber(`${where}.toleranceGrad`, pick('toleranceGrad', base?.toleranceGrad ?? 1e-7), { min: 0 }),
    toleranceChange: checkNumber(`${where}.toleranceChange`, pick('toleranceChange', base?.toleranceChange ?? 1e-9), { min: 0 }),
    historySize: checkNumber(`${where}.historySize`, pick('historySize', base?.historySize ?? 100), INTEGER_AT_LEAST_1),
    lineSearchFn,
  };
}

const HYPER_KEYS: readonly (keyof LBFGSOptions)[] = ['lr', 'maxIter', 'maxEval', 'toleranceGrad', 'toleranceChange', 'historySize', 'lineSearchFn'];

/** Any number, NaN and ±Infinity included (a loss, a step length). */
function anyNumber(name: string, value: unknown): number {
  if (typeof value !== 'number') throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a number, got ${describe(value)}`);
  return value;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Limited-memory BFGS (torch.optim.LBFGS): quasi-Newton steps that call a closure for the loss and gradients. */
export class LBFGS {
  /** One group, as in PyTorch; `lr` and the other options are writable and checked at every step. */
  readonly paramGroups: [LBFGSParamGroup];
  private readonly backend: Backend;
  private readonly vectors: FlatVectors;
  private readonly params: readonly Tensor[];
  private history: History | null = null;
  private inFlight = false;

  constructor(params: readonly Tensor[] | readonly [Partial<LBFGSOptions> & { params: readonly Tensor[] }], options: Partial<LBFGSOptions> & { backend?: BackendName } = {}) {
    const opts = checkOptions(`${NAME}: options`, options, [...HYPER_KEYS, 'backend']);
    this.backend = getBackend(opts.backend, `${NAME}: options.backend`);
    const defaults = checkHyper(`${NAME}: options`, opts, null);
    const list = checkArray(`${NAME}: params`, params);
    let tensors: Tensor[];
    let hyper = defaults;
    if (list.length > 0 && isGroupLike(list[0])) {
      if (list.length !== 1) {
        throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${NAME}: params: LBFGS takes one param group (as PyTorch's), got ${list.length}`);
      }
      const group = checkObject(`${NAME}: params[0]`, list[0]);
      checkOptions(`${NAME}: params[0]`, group, ['params', ...HYPER_KEYS]);
      tensors = checkTensorList(`${NAME}: params[0].params`, group.params);
      hyper = checkHyper(`${NAME}: params[0]`, group, defaults);
    } else {
      tensors = checkTensorList(`${NAME}: params`, list);
    }
    checkNoOverlap(`${NAME}: params`, tensors);
    this.params = [...tensors];
    this.vectors = new FlatVectors(this.backend, this.params);
    this.paramGroups = [{ ...hyper, params: [...tensors] }];
  }

  /** The name checkpoints store and match on load (not `constructor.name`, which a minifier renames). */
  get kind(): string {
    return NAME;
  }

  /** True while a stepAsync is running. */
  get busy(): boolean {
    return this.inFlight;
  }

  /** The lr of the one param group. */
  get lr(): number {
    return this.paramGroups[0].lr;
  }

  /** Sets the lr of the one param group (checked at the next step). */
  set lr(value: number) {
    this.paramGroups[0].lr = checkNumber(`${NAME}: lr`, value, { min: 0 });
  }

  /**
   * The state of each param, PyTorch's names in camelCase, all of it on the
   * first param (LBFGS's memory is global): funcEvals, nIter, d, t, oldDirs and
   * oldStps (the history pairs end to end, newest last), ro (1 / yᵀs per pair),
   * hDiag, prevFlatGrad, prevLoss. Copies; `{}` before the first step.
   */
  get state(): Array<Record<string, StateArray | number>> {
    const out: Array<Record<string, StateArray | number>> = this.params.map(() => ({}));
    if (this.history !== null) out[0] = this.historyEntry(this.history);
    return out;
  }

  /**
   * One optimization step: up to maxIter iterations, calling `closure` (which
   * must return synchronously) as often as they need. Returns the loss of the
   * first call, as PyTorch does. If anything throws (the closure, or its
   * result is refused), the params are put back and the state is unchanged.
   */
  step(closure: LBFGSClosure): number {
    this.assertIdle('step');
    const call = checkFunction<LBFGSClosure>(`${NAME}: step: closure`, closure);
    return this.drive((run) => {
      const result = call();
      if (isThenable(result)) {
        throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${NAME}: step: closure returned a Promise; use stepAsync for an asynchronous closure`);
      }
      return run(result);
    });
  }

  /**
   * step() for a closure that may return a Promise (the model runs elsewhere). Until it
   * settles, step, stepAsync, stateDict and loadStateDict throw ERR_STEP_IN_FLIGHT: the
   * params are half-way through the step, and a snapshot of them with the memory would
   * resume nowhere.
   */
  async stepAsync(closure: LBFGSAsyncClosure): Promise<number> {
    this.assertIdle('stepAsync');
    const call = checkFunction<LBFGSAsyncClosure>(`${NAME}: stepAsync: closure`, closure);
    const group = this.checkedGroup();
    const saved = this.vectors.cloneParams();
    const run = this.iterations(group);
    this.inFlight = true;
    try {
      let next = run.next();
      while (!next.done) next = run.next(this.evaluation(await call()));
      return next.value;
    } catch (error) {
      this.vectors.setParams(saved);
      throw error;
    } finally {
      this.inFlight = false;
    }
  }

  private assertIdle(what: string): void {
    if (this.inFlight) throw makeError(ErrorCodes.STEP_IN_FLIGHT, `${NAME}: ${what}: an asynchronous step is still running on this optimizer; await it first`);
  }

  private drive(evaluate: (toEvaluation: (result: unknown) => Evaluation) => Evaluation): number {
    const group = this.checkedGroup();
    const saved = this.vectors.cloneParams();
    const run = this.iterations(group);
    try {
      let next = run.next();
      while (!next.done) next = run.next(evaluate((result) => this.evaluation(result)));
      return next.value;
    } catch (error) {
      this.vectors.setParams(saved);
      throw error;
    }
  }

  /** The group's options, checked (a scheduler or a user may have written them). */
  private checkedGroup(): LBFGSOptions {
    return checkHyper(`${NAME}: paramGroups[0]`, this.paramGroups[0] as unknown as Record<string, unknown>, null);
  }

  /** The closure's result, checked, with the gradients gathered into a new flat vector. */
  private evaluation(result: unknown): Evaluation {
    const where = `${NAME}: closure result`;
    const r = checkObject(where, result);
    const loss = anyNumber(`${where}.loss`, r.loss);
    const grads = checkArray(`${where}.grads`, r.grads);
    if (grads.length !== this.params.length) {
      throw makeError(ErrorCodes.SHAPE_MISMATCH, `${where}.grads: expected ${this.params.length} gradients (one per param, null for zeros), got ${grads.length}`);
    }
    const checked = grads.map((g, i) => {
      if (g === null) return zerosLike(this.params[i]); // of the elements the param has (zerosLike reads its engine length)
      const grad = checkTensor(`${where}.grads[${i}]`, g);
      checkLike(`${where}.grads[${i}]`, grad, `params[${i}]`, this.params[i]);
      return grad;
    });
    return { loss, flatGrad: this.vectors.gather(checked) };
  }

  /** PyTorch's LBFGS.step between its closure calls; commits the history when it returns. */
  private *iterations(o: LBFGSOptions): Evaluating<number> {
    const v = this.vectors;
    const before = this.history;
    const h: History = before
      ? { ...before, oldDirs: [...before.oldDirs], oldStps: [...before.oldStps], ro: [...before.ro] }
      : { funcEvals: 0, nIter: 0, d: null, t: 0, oldDirs: [], oldStps: [], ro: [], hDiag: 1, prevFlatGrad: null, prevLoss: 0 };

    const first = yield;
    const origLoss = first.loss;
    let loss = first.loss;
    let flatGrad = first.flatGrad;
    let currentEvals = 1;
    h.funcEvals += 1;
    if (v.maxAbs(flatGrad) <= o.toleranceGrad) {
      this.history = h;
      return origLoss;
    }

    let nIter = 0;
    while (nIter < o.maxIter) {
      nIter += 1;
      h.nIter += 1;

      // The direction: steepest descent first, then the two-loop recursion.
      let d: Tensor;
      if (h.nIter === 1 || h.d === null || h.prevFlatGrad === null) {
        d = v.copy(flatGrad);
        v.scale(d, -1);
        h.oldDirs = [];
        h.oldStps = [];
        h.ro = [];
        h.hDiag = 1;
      } else {
        const y = v.copy(flatGrad);
        v.axpy(y, -1, h.prevFlatGrad);
        const s = v.copy(h.d);
        v.scale(s, h.t);
        const ys = v.dot(y, s);
        if (ys > 1e-10) {
          if (h.oldDirs.length === o.historySize) {
            h.oldDirs.shift();
            h.oldStps.shift();
            h.ro.shift();
          }
          h.oldDirs.push(y);
          h.oldStps.push(s);
          h.ro.push(1 / ys);
          h.hDiag = ys / v.dot(y, y);
        }
        const count = h.oldDirs.length;
        const al = new Array<number>(count);
        const q = v.copy(flatGrad);
        v.scale(q, -1);
        for (let i = count - 1; i >= 0; i--) {
          al[i] = v.dot(h.oldStps[i], q) * h.ro[i];
          v.axpy(q, -al[i], h.oldDirs[i]);
        }
        v.scale(q, h.hDiag);
        for (let i = 0; i < count; i++) {
          const be = v.dot(h.oldDirs[i], q) * h.ro[i];
          v.axpy(q, al[i] - be, h.oldStps[i]);
        }
        d = q;
      }
      h.d = d;
      h.prevFlatGrad = v.copy(flatGrad);
      h.prevLoss = loss;

      // The step length, and the move.
      let t = h.nIter === 1 ? Math.min(1, 1 / v.sumAbs(flatGrad)) * o.lr : o.lr;
      const gtd = v.dot(flatGrad, d);
      if (gtd > -o.toleranceChange) {
        h.t = t;
        break;
      }
      let lineSearchEvals = 0;
      let optimal = false;
      if (o.lineSearchFn === 'strong_wolfe') {
        const x = v.cloneParams();
        const found = yield* strongWolfe(v, x, t, d, loss, flatGrad, gtd, o.toleranceChange);
        ({ loss, flatGrad, t } = found);
        lineSearchEvals = found.evaluations;
        v.addToParams(t, d);
        optimal = v.maxAbs(flatGrad) <= o.toleranceGrad;
      } else {
        v.addToParams(t, d);
        if (nIter !== o.maxIter) {
          // Re-evaluated only if another iteration follows (in a stochastic setting the last one would be wasted).
          const at = yield;
          ({ loss, flatGrad } = at);
          optimal = v.maxAbs(flatGrad) <= o.toleranceGrad;
          lineSearchEvals = 1;
        }
      }
      h.t = t;
      currentEvals += lineSearchEvals;
      h.funcEvals += lineSearchEvals;

      if (nIter === o.maxIter) break;
      if (currentEvals >= o.maxEval) break;
      if (optimal) break;
      // Lack of progress: max|t·d| (= |t|·max|d|) or the loss change below toleranceChange.
      if (Math.abs(t) * v.maxAbs(d) <= o.toleranceChange) break;
      if (Math.abs(loss - h.prevLoss) < o.toleranceChange) break;
    }
    this.history = h;
    return origLoss;
  }

  private historyEntry(h: History): Record<string, StateArray | number> {
    const entry: Record<string, StateArray | number> = { funcEvals: h.funcEvals, nIter: h.nIter, t: h.t, hDiag: h.hDiag, prevLoss: h.prevLoss };
    if (h.d !== null) entry.d = h.d.slice();
    if (h.prevFlatGrad !== null) entry.prevFlatGrad = h.prevFlatGrad.slice();
    entry.oldDirs = this.concat(h.oldDirs);
    entry.oldStps = this.concat(h.oldStps);
    entry.ro = Float64Array.from(h.ro);
    return entry;
  }

  private concat(list: readonly Tensor[]): Tensor {
    const out = dtypeOf(this.params[0]) === 'float32' ? new Float32Array(list.length * this.vectors.length) : new Float64Array(list.length * this.vectors.length);
    list.forEach((x, k) => out.set(x, k * this.vectors.length));
    return out;
  }

  /** PyTorch's state_dict: the group's options (params as indices) and the memory, on param 0. */
  stateDict(): OptimizerStateDict {
    this.assertIdle('stateDict');
    const { params, ...rest } = this.paramGroups[0];
    const group = { ...JSON.parse(JSON.stringify(rest)), params: params.map((_, i) => i) };
    const state: OptimizerStateDict['state'] = {};
    if (this.history !== null) state[0] = this.historyEntry(this.history);
    return { state, paramGroups: [group] };
  }

  /** Loads a stateDict() of an LBFGS over params of the same count, dtypes and lengths; checks all of it first. */
  loadStateDict(stateDict: unknown): void {
    this.assertIdle('loadStateDict');
    const where = `${NAME}: loadStateDict`;
    const mismatch = (message: string) => makeError(ErrorCodes.STATE_DICT_MISMATCH, `${where}: ${message}`);
    const sd = checkObject(`${where}: stateDict`, stateDict);
    const groups = checkArray(`${where}: stateDict.paramGroups`, sd.paramGroups);
    if (groups.length !== 1) throw mismatch(`expected 1 param group, got ${groups.length}`);
    const group = checkObject(`${where}: stateDict.paramGroups[0]`, groups[0]);
    const indices = checkArray(`${where}: stateDict.paramGroups[0].params`, group.params);
    if (indices.length !== this.params.length) throw mismatch(`expected ${this.params.length} params, got ${indices.length}`);
    indices.forEach((value, k) => checkNumber(`${where}: stateDict.paramGroups[0].params[${k}]`, value, { integer: true, min: k, max: k }));
    const hyper = checkHyper(`${where}: stateDict.paramGroups[0]`, group, null);
    const extras: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(group)) {
      if (key !== 'params' && !(HYPER_KEYS as readonly string[]).includes(key)) extras[key] = value;
    }
    const state = checkObject(`${where}: stateDict.state`, sd.state);
    const keys = Object.keys(state);
    if (keys.some((k) => k !== '0')) throw mismatch(`state: LBFGS keeps its memory on param 0 only, got keys ${JSON.stringify(keys)}`);
    const history = keys.length === 0 ? null : this.checkHistory(`${where}: stateDict.state[0]`, checkObject(`${where}: stateDict.state[0]`, state['0']), hyper);
    // Nothing can throw from here.
    Object.assign(this.paramGroups[0], extras, hyper);
    this.history = history;
  }

  /** `where` names the entry in full ("LBFGS: loadStateDict: stateDict.state[0]"). */
  private checkHistory(where: string, e: Record<string, unknown>, hyper: LBFGSOptions): History {
    const mismatch = (message: string) => makeError(ErrorCodes.STATE_DICT_MISMATCH, message);
    const unknown = Object.keys(e).find((key) => !HISTORY_KEYS.includes(key));
    if (unknown !== undefined) throw mismatch(`${where} has an entry ${JSON.stringify(unknown)}; expected ${HISTORY_KEYS.join(', ')}`);
    const n = this.vectors.length;
    const like = this.params[0];
    const count = (key: string) => checkNumber(`${where}.${key}`, e[key], { integer: true, min: 0 });
    const num = (key: string) => anyNumber(`${where}.${key}`, e[key]);
    // Engine views (engineView), checked by their engine lengths and types: a vector's own
    // `length` could otherwise vouch for elements it does not have.
    const vector = (key: string, length: number): Tensor => {
      const x = engineView(checkTensor(`${where}.${key}`, e[key]));
      if (dtypeOf(x) !== dtypeOf(like)) throw mismatch(`${where}.${key}: expected a ${dtypeOf(like) === 'float32' ? 'Float32Array' : 'Float64Array'} like the params, got ${describe(x)}`);
      if (x.length !== length) throw mismatch(`${where}.${key}: expected ${length} elements, got ${x.length}`);
      return x.slice();
    };
    if (typedArrayTag(e.ro) !== 'Float64Array') throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${where}.ro: expected a Float64Array, got ${describe(e.ro)}`);
    const ro = engineView(checkTensor(`${where}.ro`, e.ro));
    const pairs = ro.length;
    if (pairs > hyper.historySize) throw mismatch(`${where}.ro: ${pairs} history pairs, more than historySize ${hyper.historySize}`);
    const dirs = vector('oldDirs', pairs * n);
    const stps = vector('oldStps', pairs * n);
    const split = (flat: Tensor) => Array.from({ length: pairs }, (_, k) => flat.slice(k * n, (k + 1) * n));
    const nIter = count('nIter');
    const hasMemory = e.d !== undefined || e.prevFlatGrad !== undefined;
    return {
      funcEvals: count('funcEvals'),
      nIter,
      d: hasMemory ? vector('d', n) : null,
      t: num('t'),
      oldDirs: split(dirs),
      oldStps: split(stps),
      ro: Array.from(ro),
      hDiag: num('hDiag'),
      prevFlatGrad: hasMemory ? vector('prevFlatGrad', n) : null,
      prevLoss: num('prevLoss'),
    };
  }
}
