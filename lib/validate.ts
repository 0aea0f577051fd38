/**
 * Argument checking, written once. Every public entry point calls these helpers,
 * so every message has one voice: `<argument>: expected <what>, got <value>`.
 * They only read; callers check everything before they mutate anything.
 */
import { ErrorCode, ErrorCodes, makeError } from './errors';
import type { KernelDef } from './kernels/kernel_def';
import { hasVariant, isStateTyped, slotLength, slotRole } from './kernels/kernel_def';
import { factoredShape } from './kernels/factored_shape';
import { STATE_ARRAY_NAMES, StateArray, Tensor, bufferOf, byteLengthOf, byteOffsetOf, engineView, isTensor, dtypeOf, lengthOf, stateDtypeOf, typedArrayTag } from './tensor';

/** Short, safe description of any value for an error message. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'boolean' || typeof value === 'symbol') return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an Array(${value.length})`;
  // A typed array by what the engine sees (its own `length` or `constructor` may lie, or throw); a DataView, a
  // Proxy or a typed array with a swapped prototype as an object, below.
  const tag = typedArrayTag(value);
  if (tag !== undefined) return `a ${tag}(${lengthOf(value as ArrayBufferView)})`;
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}

export interface NumberRule {
  /** Smallest allowed value. */
  min?: number;
  /** Largest allowed value. */
  max?: number;
  /** min is excluded (value > min). */
  minExclusive?: boolean;
  /** max is excluded (value < max). */
  maxExclusive?: boolean;
  /** Must be an integer. */
  integer?: boolean;
  /** Infinity allowed (NaN never is). */
  allowInfinity?: boolean;
}

/** What `rule` asks for, in words: "an integer >= 1", "a finite number in [0, 1)". */
export function rangeText(rule: NumberRule): string {
  const parts: string[] = [];
  if (rule.integer) parts.push('an integer');
  else parts.push(rule.allowInfinity ? 'a number' : 'a finite number');
  if (rule.min !== undefined && rule.max !== undefined) {
    parts.push(`in ${rule.minExclusive ? '(' : '['}${rule.min}, ${rule.max}${rule.maxExclusive ? ')' : ']'}`);
  } else if (rule.min !== undefined) {
    parts.push(rule.minExclusive ? `> ${rule.min}` : `>= ${rule.min}`);
  } else if (rule.max !== undefined) {
    parts.push(rule.maxExclusive ? `< ${rule.max}` : `<= ${rule.max}`);
  }
  return parts.join(' ');
}

/**
 * The one rule for a number that is refused: ERR_NON_FINITE for NaN anywhere, and for ±Infinity
 * where only finite numbers are allowed; ERR_OUT_OF_RANGE for any other number outside its range
 * (an allowed Infinity beyond a bound included). native/boundary/args.cc follows the same rule.
 */
export function refusedNumberCode(value: number, allowInfinity: boolean): ErrorCode {
  return Number.isNaN(value) || (!allowInfinity && !Number.isFinite(value)) ? ErrorCodes.NON_FINITE : ErrorCodes.OUT_OF_RANGE;
}

/** Checks that `value` is a number obeying `rule`; returns it. */
export function checkNumber(name: string, value: unknown, rule: NumberRule = {}): number {
  if (typeof value !== 'number') {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected ${rangeText(rule)}, got ${describe(value)}`);
  }
  if (!obeys(value, rule)) {
    throw makeError(
      refusedNumberCode(value, rule.allowInfinity === true),
      `${name}: expected ${rangeText(rule)}, got ${describe(value)}`,
    );
  }
  return value;
}

/** Whether the number `value` obeys `rule` (checkNumber's test, without the throw). */
export function obeys(value: number, rule: NumberRule): boolean {
  return !(
    Number.isNaN(value) ||
    (!rule.allowInfinity && !Number.isFinite(value)) ||
    (rule.integer && !Number.isInteger(value)) ||
    (rule.min !== undefined && (rule.minExclusive ? !(value > rule.min) : !(value >= rule.min))) ||
    (rule.max !== undefined && (rule.maxExclusive ? !(value < rule.max) : !(value <= rule.max)))
  );
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a boolean, got ${describe(value)}`);
  }
  return value;
}

export function checkString<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    const code = typeof value === 'string' ? ErrorCodes.INVALID_ARG_VALUE : ErrorCodes.INVALID_ARG_TYPE;
    throw makeError(code, `${name}: expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

export function checkFunction<F extends (...args: never[]) => unknown>(name: string, value: unknown): F {
  if (typeof value !== 'function') {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a function, got ${describe(value)}`);
  }
  return value as F;
}

export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a plain object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Options objects: undefined means {}; unknown keys are rejected (a typo must not pass silently). */
export function checkOptions(name: string, value: unknown, known: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  const obj = checkObject(name, value);
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      throw makeError(
        ErrorCodes.INVALID_ARG_VALUE,
        `${name}: unknown option ${JSON.stringify(key)} (expected one of ${known.join(', ')})`,
      );
    }
  }
  return obj;
}

/**
 * An Array, returned as a dense copy read once per index: a hole reads as undefined (which the
 * element's own check then refuses), and an index getter cannot answer differently later.
 */
export function checkArray(name: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected an Array, got ${describe(value)}`);
  }
  const list: unknown[] = value;
  return Array.from({ length: list.length }, (_, i) => list[i]);
}

/** A Float32Array or Float64Array whose buffer is still attached. */
export function checkTensor(name: string, value: unknown): Tensor {
  if (!isTensor(value)) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a Float32Array or Float64Array, got ${describe(value)}`);
  }
  checkReadable(name, value);
  return value;
}

/**
 * A Uint8Array (a Buffer too) whose buffer is readable, returned as a fresh view of the memory
 * the engine sees (engineView), so that a lying own `length` cannot stretch a read past it.
 */
export function checkBytes(name: string, value: unknown): Uint8Array {
  if (typedArrayTag(value) !== 'Uint8Array') {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a Buffer or Uint8Array, got ${describe(value)}`);
  }
  checkReadable(name, value as Uint8Array);
  return engineView(value as Uint8Array);
}

/** A typed array of one of the state element types (Float32Array, Float64Array, Uint16Array, Uint8Array), attached. */
export function checkStateArray(name: string, value: unknown): StateArray {
  if (stateDtypeOf(value) === null) {
    throw makeError(
      ErrorCodes.INVALID_ARG_TYPE,
      `${name}: expected a Float32Array, Float64Array, Uint16Array (bfloat16) or Uint8Array, got ${describe(value)}`,
    );
  }
  const array = value as StateArray;
  checkReadable(name, array);
  return array;
}

/**
 * A kernel call's buffers, checked as the addon checks them (native/boundary/args.cc is
 * the safety net behind this): `kernel.slots` buffers per tensor, params and
 * gradients Float32Array or Float64Array of one type, state of one state type,
 * a combination the kernel has, every buffer of a tensor as long as its param.
 */
export function checkKernelBuffers(kernel: KernelDef, buffers: unknown, name = 'buffers'): StateArray[] {
  const list = checkArray(name, buffers);
  const { slots } = kernel;
  if (list.length % slots !== 0) {
    throw makeError(ErrorCodes.SHAPE_MISMATCH, `${name}: expected a multiple of ${slots} buffers, got ${list.length}`);
  }
  const roles = Array.from({ length: slots }, (_, s) => slotRole(kernel, s));
  const firstState = roles.findIndex(isStateTyped);
  const rowSlot = roles.findIndex((r) => r.kind === 'rows');
  const colSlot = roles.findIndex((r) => r.kind === 'cols');
  const out = list.map((b, i) => {
    const role = roles[i % slots];
    if (role.kind === 'param') return checkTensor(`${name}[${i}]`, b);
    if (isStateTyped(role)) return checkStateArray(`${name}[${i}]`, b);
    if (typedArrayTag(b) !== 'Float32Array') {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}[${i}]: expected a Float32Array ${role.kind === 'blocks' ? 'of block scales' : 'code map'}, got ${describe(b)}`);
    }
    return checkStateArray(`${name}[${i}]`, b);
  });
  for (let i = 0; i < out.length; i++) {
    const role = roles[i % slots];
    const param = i - (i % slots);
    if (role.kind === 'param' || isStateTyped(role)) {
      const head = role.kind === 'param' ? 0 : firstState; // the buffer that fixes this slot's element type
      if (i !== head) checkSameType(`${name}[${i}]`, out[i], `${name}[${head}]`, out[head]);
      if (role.kind === 'rows' || role.kind === 'cols') {
        if (role.kind === 'cols') checkFactoredLengths(name, out, param, param + rowSlot, param + colSlot);
      } else if (i !== param) {
        checkSameLength(`${name}[${i}]`, out[i], `${name}[${param}]`, out[param]);
      }
    } else {
      const expected = slotLength(role, lengthOf(out[param]));
      if (lengthOf(out[i]) !== expected) {
        const what = role.kind === 'blocks' ? ` (one scale per ${role.size} elements of ${name}[${param}])` : ' (a code map)';
        throw makeError(ErrorCodes.SHAPE_MISMATCH, `${name}[${i}]: expected length ${expected}${what}, got length ${lengthOf(out[i])}`);
      }
    }
  }
  if (out.length > 0) {
    const param = dtypeOf(out[0] as Tensor);
    const state = firstState >= 0 ? stateDtypeOf(out[firstState])! : param;
    if (!hasVariant(kernel, param, state)) {
      throw makeError(ErrorCodes.DTYPE_MISMATCH, `${name}: the ${kernel.name} kernel has no variant for ${param} params with ${state} state`);
    }
  }
  return out;
}

/** A factored param's row and column statistics must be those of some shape of it (factored_shape.ts); as native/boundary/args.cc says it. */
function checkFactoredLengths(name: string, out: readonly StateArray[], param: number, rows: number, cols: number): void {
  const length = lengthOf(out[param]), rowStats = lengthOf(out[rows]), colStats = lengthOf(out[cols]);
  if (factoredShape(length, rowStats, colStats) === null) {
    throw makeError(
      ErrorCodes.SHAPE_MISMATCH,
      `${name}[${rows}] and ${name}[${cols}]: lengths ${rowStats} and ${colStats} are not the row and column statistics of a param of ${length} elements ` +
        '(matrices·rows and matrices·cols for matrices·rows·cols elements)',
    );
  }
}

/** A kernel call's scalars: a Float64Array with one value per named scalar of the kernel. */
export function checkKernelScalars(kernel: KernelDef, scalars: unknown, name = 'scalars'): Float64Array {
  if (!(scalars instanceof Float64Array) || scalars.length !== kernel.scalars.length) {
    throw makeError(ErrorCodes.SHAPE_MISMATCH, `${name}: expected a Float64Array of ${kernel.scalars.length} values, got ${describe(scalars)}`);
  }
  return scalars;
}

/** `value` must have the element type of `ref`. */
export function checkSameType(name: string, value: StateArray, refName: string, ref: StateArray): void {
  const expected = stateDtypeOf(ref)!;
  if (stateDtypeOf(value) !== expected) {
    throw makeError(ErrorCodes.DTYPE_MISMATCH, `${name}: expected a ${STATE_ARRAY_NAMES[expected]} like ${refName}, got ${describe(value)}`);
  }
}

/** `value` must have the length of `ref`. */
export function checkSameLength(name: string, value: StateArray, refName: string, ref: StateArray): void {
  const [length, expected] = [lengthOf(value), lengthOf(ref)];
  if (length !== expected) {
    throw makeError(ErrorCodes.SHAPE_MISMATCH, `${name}: expected length ${expected} like ${refName}, got length ${length}`);
  }
}

/**
 * Why a typed array cannot be read, or null if it can: its ArrayBuffer was transferred
 * (postMessage) or detached, or it views a resizable ArrayBuffer that shrank below it (out of
 * bounds). Both read a byte length of 0, which an honest empty array also has: for that one
 * ambiguous case we ask the engine, whose values() throws for both, and a view constructed over
 * the buffer itself, which throws only when it is detached.
 */
export function unreadable(t: ArrayBufferView): 'detached' | 'out of bounds' | null {
  if (byteLengthOf(t) !== 0) return null;
  try {
    typedArrayValues.call(t);
    return null;
  } catch {
    // one of the two; which, below
  }
  try {
    new Uint8Array(bufferOf(t));
    return 'out of bounds';
  } catch {
    return 'detached';
  }
}

/** A typed array whose ArrayBuffer was transferred (postMessage) or detached (see unreadable). */
export function isDetached(t: ArrayBufferView): boolean {
  return unreadable(t) === 'detached';
}

/** Throws the coded error for a typed array that cannot be read (see unreadable). */
function checkReadable(name: string, t: ArrayBufferView): void {
  const problem = unreadable(t);
  if (problem === 'detached') throw makeError(ErrorCodes.DETACHED_BUFFER, `${name}: its ArrayBuffer is detached (transferred to another thread?)`);
  if (problem === 'out of bounds') throw makeError(ErrorCodes.SHAPE_MISMATCH, `${name}: its resizable ArrayBuffer shrank below it (the view is out of bounds)`);
}

const typedArrayValues = (Object.getPrototypeOf(Uint8Array.prototype) as { values: () => unknown }).values;

/** A list of tensors: non-empty and of one dtype unless the options allow otherwise. */
export function checkTensorList(
  name: string,
  value: unknown,
  opts: { allowEmpty?: boolean; mixedDtypes?: boolean } = {},
): Tensor[] {
  const list = checkArray(name, value);
  if (list.length === 0 && !opts.allowEmpty) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}: expected at least one tensor, got an empty Array`);
  }
  const tensors = list.map((t, i) => checkTensor(`${name}[${i}]`, t));
  if (!opts.mixedDtypes) checkSameDtype(name, tensors);
  return tensors;
}

export function checkSameDtype(name: string, tensors: readonly Tensor[]): void {
  if (tensors.length === 0) return;
  const first = dtypeOf(tensors[0]);
  for (let i = 1; i < tensors.length; i++) {
    if (dtypeOf(tensors[i]) !== first) {
      throw makeError(
        ErrorCodes.DTYPE_MISMATCH,
        `${name}[${i}]: expected a ${first === 'float32' ? 'Float32Array' : 'Float64Array'} like ${name}[0], got ${describe(tensors[i])}`,
      );
    }
  }
}

/** `other` must match `ref` in element type and length. */
export function checkLike(name: string, other: StateArray, refName: string, ref: StateArray): void {
  checkSameType(name, other, refName, ref);
  checkSameLength(name, other, refName, ref);
}

/** Two views overlap in memory when they share a buffer and their byte ranges intersect. */
export function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (bufferOf(a) !== bufferOf(b)) return false;
  const [aStart, bStart] = [byteOffsetOf(a), byteOffsetOf(b)];
  return aStart < bStart + byteLengthOf(b) && bStart < aStart + byteLengthOf(a);
}

/**
 * No two tensors of the list may share memory (the same param twice, or two overlapping views).
 * `label` names the i-th tensor in the message, for a list joined from several arguments.
 */
export function checkNoOverlap(name: string, tensors: readonly StateArray[], label = (i: number): string => `${name}[${i}]`): void {
  // Sort by buffer identity is not possible; group by buffer with a Map, then check ranges inside a group.
  const byBuffer = new Map<ArrayBufferLike, number[]>();
  tensors.forEach((t, i) => {
    // An empty view shares no memory. Left in, it could sit between two views that
    // do overlap once sorted, and the neighbour-only check below would miss them.
    if (byteLengthOf(t) === 0) return;
    const list = byBuffer.get(bufferOf(t));
    if (list) list.push(i);
    else byBuffer.set(bufferOf(t), [i]);
  });
  for (const indices of byBuffer.values()) {
    if (indices.length < 2) continue;
    indices.sort((x, y) => byteOffsetOf(tensors[x]) - byteOffsetOf(tensors[y]));
    for (let k = 1; k < indices.length; k++) {
      const prev = tensors[indices[k - 1]];
      const cur = tensors[indices[k]];
      if (byteOffsetOf(cur) < byteOffsetOf(prev) + byteLengthOf(prev)) {
        throw makeError(
          ErrorCodes.INVALID_ARG_VALUE,
          `${label(indices[k])}: shares memory with ${label(indices[k - 1])} (the same buffer twice?)`,
        );
      }
    }
  }
}
