/**
 * Checks a cached step repeats every step, compiled once for the names they
 * compare instead of interpreting a schema per param per step:
 *
 *   stateCheck   every param of a cached call still has the first one's step count and
 *                per-param numbers, and the very state buffers recorded (step_cache.ts)
 *   sameValues   every hyper-parameter of a group is the value validated last (param_groups.ts)
 *
 * Each is generated as a small function whose property names are literals, so
 * the engine reads them as it reads `state.expAvg` in hand-written code (one
 * shape check) rather than through a key that changes from one read to the
 * next. Where the process forbids code generation from strings (node
 * --disallow-code-generation-from-strings), the same check runs as a loop
 * over the names: the same answers, more slowly. `test/step-once.test.ts`
 * runs both.
 */
import type { StateArray } from '../../tensor';
import type { ParamState } from './spec';

/** Whether the params' state is still as recorded (see stateCheck). */
export type StateCheck = (states: readonly ParamState[]) => boolean;

/** Whether a group's values are the validated ones (see sameValuesCheck). */
export type SameValues = (group: Record<string, unknown>, validated: readonly unknown[]) => boolean;

/** Whether code may be generated from strings in this process (set once, on the first try). */
let canGenerate: boolean | null = null;

/** A function made from source, or null where the process forbids it. */
function generate<T>(params: readonly string[], body: string): T | null {
  if (canGenerate === false) return null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const made = new Function(...params, body) as T;
    canGenerate = true;
    return made;
  } catch (error) {
    if (!(error instanceof EvalError)) throw error;
    canGenerate = false;
    return null;
  }
}

/** A property read as source: `s["expAvg"]` (JSON quoting makes any name a literal). */
function read(object: string, name: string): string {
  return `${object}[${JSON.stringify(name)}]`;
}

/**
 * A check that `states[indices[t]]`, for every t, has the step count and the
 * per-param numbers `numbers` of `states[indices[0]]` (Object.is: NaN equals
 * NaN, 0 differs from -0), and `buffers[b]` equal to `recorded[b][t]`. False
 * as soon as one differs, and when the first has no step count. Changes nothing.
 * `interpreted` forces the loop (for tests).
 */
export function stateCheck(
  indices: readonly number[],
  numbers: readonly string[],
  buffers: readonly string[],
  recorded: ReadonlyArray<readonly StateArray[]>,
  interpreted = false,
): StateCheck {
  const compiled = interpreted
    ? null
    : generate<(indices: readonly number[], recorded: ReadonlyArray<readonly StateArray[]>) => StateCheck>(
        ['indices', 'recorded'],
        [
          ...buffers.map((_, b) => `const b${b} = recorded[${b}];`),
          'return function stateCheck(states) {',
          '  const first = states[indices[0]];',
          '  const step = first.step;',
          '  if (step === undefined) return false;',
          ...numbers.map((name, n) => `  const n${n} = ${read('first', name)};`),
          '  for (let t = 0; t < indices.length; t++) {',
          '    const s = states[indices[t]];',
          '    if (s.step !== step) return false;',
          ...buffers.map((name, b) => `    if (${read('s', name)} !== b${b}[t]) return false;`),
          ...numbers.map((name, n) => `    if (!Object.is(${read('s', name)}, n${n})) return false;`),
          '  }',
          '  return true;',
          '};',
        ].join('\n'),
      );
  if (compiled !== null) return compiled(indices, recorded);
  return (states) => {
    const first = states[indices[0]];
    const step = first.step;
    if (step === undefined) return false;
    for (let t = 0; t < indices.length; t++) {
      const s = states[indices[t]];
      if (s.step !== step) return false;
      for (let b = 0; b < buffers.length; b++) if (s[buffers[b]] !== recorded[b][t]) return false;
      for (let n = 0; n < numbers.length; n++) if (!Object.is(s[numbers[n]], first[numbers[n]])) return false;
    }
    return true;
  };
}

/**
 * A check that `group[keys[k]]` is sameValue as `validated[k]` for every k: a
 * number, boolean or string by Object.is, an array (Adafactor's shapes nest
 * them) element by element at every depth. `interpreted` forces the loop (for tests).
 */
export function sameValuesCheck(keys: readonly string[], interpreted = false): SameValues {
  const compiled = interpreted
    ? null
    : generate<(same: typeof sameValue) => SameValues>(
        ['sameValue'],
        [
          'return function sameValues(group, validated) {',
          // Each value read once (a group's key may be a getter).
          ...keys.map((key, k) => `  const v${k} = ${read('group', key)};\n  if (!Object.is(v${k}, validated[${k}]) && !(Array.isArray(validated[${k}]) && sameValue(v${k}, validated[${k}]))) return false;`),
          '  return true;',
          '};',
        ].join('\n'),
      );
  if (compiled !== null) return compiled(sameValue);
  return (group, validated) => {
    for (let k = 0; k < keys.length; k++) {
      const value = group[keys[k]];
      if (!Object.is(value, validated[k]) && !(Array.isArray(validated[k]) && sameValue(value, validated[k]))) return false;
    }
    return true;
  };
}

/** Equal as hyper-parameter values: the same number, boolean or string, or arrays of equal elements. */
export function sameValue(value: unknown, validated: unknown): boolean {
  if (!Array.isArray(validated)) return Object.is(value, validated);
  if (!Array.isArray(value) || value.length !== validated.length) return false;
  for (let i = 0; i < value.length; i++) if (!sameValue(value[i], validated[i])) return false;
  return true;
}
