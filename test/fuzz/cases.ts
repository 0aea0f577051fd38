/**
 * One fuzz case: a target from targets.ts, built from the generator seeded by (seed, index),
 * called as built or with one thing wrong, and judged:
 *
 * - it returns (or its promise resolves): fine;
 * - it throws (or rejects) an Error with a string `code` (ERR_...), or the fuzzer's own getter
 *   error passing through: fine, provided nothing it was given changed: every typed array the
 *   case made, every optimizer's state dict and every scheduler's;
 * - anything else is a problem, described for the report.
 *
 * A crash, an abort or a stall cannot be judged here: the runner (run.ts) sees the process die,
 * or go silent, and reports the call (describeCase).
 */
import { inspect } from 'util';
import { createRng, mixSeed } from '../helpers/random';
import { Call, Target, TARGETS } from './targets';
import { CaseMemory, Draw, FuzzGetterError } from './values';

export interface CaseResult {
  target: string;
  outcome: 'returned' | 'refused' | 'getter';
  /** Set when the case found a problem. */
  problem?: string;
}

const TYPED_ARRAY_PROTOTYPE = Object.getPrototypeOf(Uint8Array.prototype) as object;
const intrinsic = (name: string) => Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, name)!.get!;
const [bufferOf, byteOffsetOf, byteLengthOf] = ['buffer', 'byteOffset', 'byteLength'].map(intrinsic);

/** The bytes a typed array views now, read past any lying getter (empty when detached or out of bounds). */
function bytesOf(view: ArrayBufferView): string {
  const length = byteLengthOf.call(view) as number;
  if (length === 0) return '';
  return Buffer.from(new Uint8Array(bufferOf.call(view) as ArrayBuffer, byteOffsetOf.call(view) as number, length)).toString('base64');
}

/** A JSON text of a state dict with every typed array as its bytes. */
function stateText(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (ArrayBuffer.isView(v) ? bytesOf(v) : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

/** A case built: its target and the call it makes (most often with one thing wrong), or why it could not be built. */
type BuiltCase = { target: Target; memory: CaseMemory } & ({ call: Call; args: unknown[] } | { error: Error });

function buildCase(seed: number, index: number): BuiltCase {
  const memory: CaseMemory = { made: [] };
  const d = new Draw(createRng(mixSeed(seed, index)), memory);
  const target = TARGETS[d.int(TARGETS.length)];
  let call: Call;
  try {
    call = target.build(d);
  } catch (err) {
    return { target, memory, error: err as Error };
  }
  return { target, memory, call, args: d.chance(0.9) ? d.mutate(call.args) : call.args };
}

/** The call case `index` of `seed` makes, as text for a report: `target(arg, arg, ...)`. Builds it; does not call it. */
export function describeCase(seed: number, index: number): string {
  const built = buildCase(seed, index);
  if ('error' in built) return `${built.target.name}: the fuzzer could not build its call: ${built.error.message}`;
  const text = built.args.map((a) => {
    try {
      return inspect(a, { depth: 2, maxArrayLength: 4, maxStringLength: 40, breakLength: Infinity });
    } catch {
      return '<a value that cannot be shown>';
    }
  });
  return `${built.target.name}(${text.join(', ')})`;
}

export async function runCase(seed: number, index: number): Promise<CaseResult> {
  const built = buildCase(seed, index);
  const { target, memory } = built;
  if ('error' in built) return { target: target.name, outcome: 'refused', problem: `the fuzzer could not build its call: ${built.error.stack}` };
  const { call, args } = built;

  const before = {
    made: memory.made.map(bytesOf),
    optimizers: (call.optimizers ?? []).map((o) => stateText(o.stateDict())),
    schedulers: (call.schedulers ?? []).map((s) => stateText(s.stateDict())),
  };
  let thrown: unknown = undefined;
  let threw = false;
  try {
    const result = call.fn(...args);
    if (result instanceof Promise) await result;
  } catch (err) {
    threw = true;
    thrown = err;
  }
  if (!threw) return { target: target.name, outcome: 'returned' };

  const result: CaseResult = { target: target.name, outcome: thrown instanceof FuzzGetterError ? 'getter' : 'refused' };
  const code = (thrown as { code?: unknown } | null)?.code;
  if (!(thrown instanceof Error)) result.problem = `threw a non-Error: ${String(thrown)}`;
  else if (result.outcome === 'refused' && (typeof code !== 'string' || !code.startsWith('ERR_'))) {
    result.problem = `threw an error without a code: ${thrown.name}: ${thrown.message}`;
  } else {
    const changed: string[] = [];
    memory.made.forEach((view, i) => bytesOf(view) !== before.made[i] && changed.push(`a ${view.constructor.name} it was given`));
    (call.optimizers ?? []).forEach((o, i) => stateText(o.stateDict()) !== before.optimizers[i] && changed.push('the optimizer'));
    (call.schedulers ?? []).forEach((s, i) => stateText(s.stateDict()) !== before.schedulers[i] && changed.push('the scheduler'));
    if (changed.length > 0) result.problem = `threw (${String(code ?? thrown.message)}) but changed ${changed.join(', ')}`;
  }
  return result;
}
