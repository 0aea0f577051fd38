/**
 * How a param's optimizer state is stored: `stateDtype` (a constructor and
 * param-group option of Adam, AdamW, Lion, SGD, RMSprop, Adagrad, Adamax,
 * NAdam, RAdam and AdamWScheduleFree: each declares STATE_STORAGE_OPTIONS in
 * its spec).
 *
 *   'float32'   the moments in the param's own type (the default: bit for bit
 *               what the optimizers did before the option existed).
 *   'bfloat16'  the moments as bfloat16 (Uint16Array), computed in float32 and
 *               rounded to nearest even when stored, or stochastically
 *               (`stochasticRounding: true`, random bits from `roundingSeed`,
 *               the step and the element's position: the same for any
 *               thread count). Half the bytes.
 *   'int8'      the moments as 8-bit codes (a small float relative to its
 *               block's absmax, encoded and decoded by arithmetic on the
 *               float's bits: lib/compact/code8.ts) with a float32 absmax
 *               per block of 256 and the code's map (code_maps.ts): about a
 *               quarter.
 *               Params under `min8bitSize` elements (4096) keep full state, as
 *               bitsandbytes does: their codes would save little and cost
 *               precision where biases and norms live.
 *
 * Compact state needs float32 params. The kernels see it through drivers
 * (native/kernels/compact_state.h, lib/compact/drivers.ts); here is
 * what the optimizer needs: which storage a param gets, the state schema and
 * kernel choice that storage turns the optimizer's own into, and the
 * conversion of a loaded state dict into the live optimizer's storage.
 */
import { COMPACT_BLOCK, blockwise8Kernel, dequantizeBlocks, mix32, nearestBf16Kernel, quantizeBlocks, stochasticBf16Kernel } from './drivers';
import { Code8, SIGNED_CODE, UNSIGNED_CODE, encode8, inverseOf } from './code8';
import { storeBf16Nearest, widenBf16 } from './bfloat16';
import { ErrorCodes, makeError } from '../errors';
import { StateArray, Tensor, dtypeOf, engineView, lengthOf, typedArrayTag } from '../tensor';
import { checkStateArray, describe } from '../validate';
import { SIGNED_CODE_MAP, UNSIGNED_CODE_MAP, isCodeMap, isCurrentCodeMap } from './code_maps';
import { OptionRules, booleanOption, choiceOption, numberOption } from '../optim/core/options';
import type { KernelChoice, StateBufferSpec, StateSchema } from '../optim/core/spec';

/**
 * How an optimizer stores its moments (`stateDtype`): 'float32' in the param's own type (the
 * default), 'bfloat16' in half the bytes, 'int8' as 8-bit block-wise codes (about a quarter).
 */
export type StateDtypeOption = 'float32' | 'bfloat16' | 'int8';
export const STATE_DTYPE_OPTIONS = ['float32', 'bfloat16', 'int8'] as const satisfies readonly StateDtypeOption[];

/** The compact-state options of Adam, AdamW, Lion, SGD, RMSprop and Adagrad (docs/compact-state.md). */
export interface StateStorageOptions {
  /** How the moments are stored (see the module comment). */
  stateDtype: StateDtypeOption;
  /** bfloat16 state only: round stochastically instead of to nearest. */
  stochasticRounding: boolean;
  /** The seed of stochastic rounding's random bits (an integer in [0, 2^32)). */
  roundingSeed: number;
  /** int8 state only: params with fewer elements keep full-precision state. */
  min8bitSize: number;
}

export const STATE_STORAGE_OPTIONS: OptionRules<StateStorageOptions> = {
  stateDtype: choiceOption<StateDtypeOption>('float32', STATE_DTYPE_OPTIONS),
  stochasticRounding: booleanOption(false),
  roundingSeed: numberOption(0, { integer: true, min: 0, max: 2 ** 32 - 1 }),
  min8bitSize: numberOption(4096, { integer: true, min: 0 }),
};

const STORAGE_KEYS = Object.keys(STATE_STORAGE_OPTIONS) as Array<keyof StateStorageOptions>;

/** What one param's state is stored as. */
export type Storage = 'full' | 'bfloat16' | 'bfloat16-sr' | 'int8';

function storageOptions(hyper: object): StateStorageOptions | null {
  return 'stateDtype' in hyper ? (hyper as StateStorageOptions) : null;
}

/** The storage of a param of `length` elements under a group's options. */
export function storageOf(hyper: object, length: number): Storage {
  const o = storageOptions(hyper);
  if (o === null || o.stateDtype === 'float32') return 'full';
  if (o.stateDtype === 'bfloat16') return o.stochasticRounding ? 'bfloat16-sr' : 'bfloat16';
  return length < o.min8bitSize ? 'full' : 'int8';
}

/**
 * Whether state stored as `storage` depends on where each element sits in its
 * param: stochastic rounding hashes the element's position into its random
 * bits, so a piece of the param stepped apart (ZeRO) would round otherwise.
 */
export function dependsOnPlace(storage: Storage): boolean {
  return storage === 'bfloat16-sr';
}

/**
 * The storage options under which a piece of a param stored as `storage`,
 * however short, is stored as the whole param is: an 8-bit param's pieces
 * stay 8-bit below min8bitSize. {} where a piece's length does not matter.
 */
export function pieceStorageOptions(storage: Storage): Partial<StateStorageOptions> {
  return storage === 'int8' ? { min8bitSize: 0 } : {};
}

/** The storage options of a group, by name ({} for an optimizer without them): fixed once the group is added. */
export function storageOptionValues(hyper: object): Partial<StateStorageOptions> {
  const o = storageOptions(hyper);
  const out: Partial<StateStorageOptions> = {};
  if (o !== null) for (const k of STORAGE_KEYS) (out as Record<string, unknown>)[k] = o[k];
  return out;
}

/** Compact state needs float32 params: refuses the first other one, naming it. */
export function checkStorageParams(hyper: object, params: readonly Tensor[], where: string): void {
  const o = storageOptions(hyper);
  if (o === null || o.stateDtype === 'float32') return;
  const k = params.findIndex((p) => !(p instanceof Float32Array));
  if (k >= 0) {
    throw makeError(
      ErrorCodes.DTYPE_MISMATCH,
      `${where}.params[${k}]: stateDtype '${o.stateDtype}' needs Float32Array params, got a Float64Array; use stateDtype 'float32' (full-precision state) for float64 params`,
    );
  }
}

// ---- schemas and kernels --------------------------------------------------

const schemas = new WeakMap<StateSchema, Map<Storage, StateSchema>>();

/** `schema` with its compact buffers as `storage` stores them (the same object for 'full'). */
export function storedSchema(schema: StateSchema, storage: Storage): StateSchema {
  if (storage === 'full') return schema;
  let byStorage = schemas.get(schema);
  if (byStorage === undefined) schemas.set(schema, (byStorage = new Map()));
  let stored = byStorage.get(storage);
  if (stored === undefined) {
    stored = { buffers: schema.buffers.flatMap((b) => storedBuffers(b, storage)), scalars: schema.scalars };
    byStorage.set(storage, stored);
  }
  return stored;
}

function storedBuffers(buffer: StateBufferSpec, storage: Storage): StateBufferSpec[] {
  if (buffer.compact === undefined) return [buffer];
  const initial = buffer.initial ?? 0;
  // A new buffer's value (Adagrad's initial accumulator) as its storage holds it: the
  // bfloat16 pattern, or every code at ±1 of a block scale |initial|.
  if (storage === 'bfloat16' || storage === 'bfloat16-sr') return [{ ...buffer, dtype: 'bfloat16', initial: bf16Bits(initial) }];
  const map = buffer.compact === 'signed' ? SIGNED_CODE_MAP : UNSIGNED_CODE_MAP;
  return [
    { name: buffer.name, dtype: 'uint8', compact: buffer.compact, initial: encode8(codeOf(buffer.compact), initial, inverseOf(Math.abs(initial))) },
    { name: absmaxName(buffer.name), dtype: 'float32', blockSize: COMPACT_BLOCK, initial: Math.abs(initial) },
    { name: codeMapName(buffer.name), dtype: 'float32', length: 256, shared: map },
  ];
}

function codeOf(compact: 'signed' | 'unsigned'): Code8 {
  return compact === 'signed' ? SIGNED_CODE : UNSIGNED_CODE;
}

function bf16Bits(x: number): number {
  const stored = new Uint16Array(1);
  storeBf16Nearest(Float32Array.of(x), stored);
  return stored[0];
}

/** The names of an 8-bit moment's companions: expAvg → expAvgAbsmax, expAvgQmap (bitsandbytes' absmax and qmap). */
export const absmaxName = (name: string): string => `${name}Absmax`;
export const codeMapName = (name: string): string => `${name}Qmap`;

/** Whether `key` of a param's state entry holds the code map of an 8-bit moment (an array every param may share). */
export function isCodeMapKey(entry: Readonly<Record<string, unknown>>, key: string): boolean {
  const moment = key.slice(0, -'Qmap'.length);
  return codeMapName(moment) === key && entry[moment] instanceof Uint8Array;
}

const choices = new WeakMap<KernelChoice<string>, Map<Storage, KernelChoice<string>>>();

/** The kernel and slot buffers that run `choice` over state stored as `storage` (constants: a step allocates nothing). */
export function storedChoice(choice: KernelChoice<string>, storage: Storage): KernelChoice<string> {
  // Buffers before the kernel's state slots stay as they are: full-precision sequences the
  // kernel reads beside the param (Schedule-Free's z), not moments.
  const lead = choice.kernel.slots - 2 - choice.kernel.stateSlots;
  // A kernel without state (SGD without momentum) has nothing to store.
  if (storage === 'full' || choice.buffers.length === lead) return choice;
  let byStorage = choices.get(choice);
  if (byStorage === undefined) choices.set(choice, (byStorage = new Map()));
  let stored = byStorage.get(storage);
  if (stored === undefined) {
    stored =
      storage === 'bfloat16'
        ? { kernel: nearestBf16Kernel(choice.kernel), buffers: choice.buffers }
        : storage === 'bfloat16-sr'
          ? { kernel: stochasticBf16Kernel(choice.kernel), buffers: choice.buffers }
          : {
              kernel: blockwise8Kernel(choice.kernel),
              buffers: [...choice.buffers.slice(0, lead), ...choice.buffers.slice(lead).flatMap((b) => [b, absmaxName(b), codeMapName(b)])],
            };
    byStorage.set(storage, stored);
  }
  return stored;
}

/** The 32-bit seed of a stochastically rounded step (the drivers hash it with each element's position). */
export function roundingKey(seed: number, step: number): number {
  return mix32((seed ^ mix32(step >>> 0)) >>> 0);
}

// ---- loading --------------------------------------------------------------

/**
 * A loaded param state entry converted to `storage` (a new object; the input
 * is not changed): each compact moment may arrive as full precision (a
 * Float32Array or Float64Array of the param's length), as bfloat16 (a
 * Uint16Array) or as 8-bit codes with their absmax and code map, from an
 * optimizer stored otherwise; it is widened to float32 exactly and then
 * stored as `storage` stores it (bfloat16 rounded to nearest; 8-bit quantized
 * with this library's code). State already in the live form is kept as it is.
 * 8-bit codes of an older map (code_maps.ts) going into 8-bit state are
 * recoded one code at a time, each to today's code nearest its value, the
 * block's absmax kept: exact wherever the two codes share a value. Throws
 * `mismatch` errors for malformed input.
 */
export function convertLoadedEntry(
  where: string,
  schema: StateSchema,
  storage: Storage,
  param: Tensor,
  entry: Record<string, unknown>,
  label: string,
  mismatch: (msg: string) => Error,
): Record<string, unknown> {
  const out = { ...entry };
  for (const buffer of schema.buffers) {
    if (buffer.compact === undefined || entry[buffer.name] === undefined) continue;
    const name = buffer.name;
    const loaded = loadedForm(where, entry, name, buffer.compact, lengthOf(param), `${label}.${name}`, mismatch);
    const target: Form = storage === 'full' ? 'full' : storage === 'int8' ? 'int8' : 'bfloat16';
    if (loaded.form === target) continue;
    const map = buffer.compact === 'signed' ? SIGNED_CODE_MAP : UNSIGNED_CODE_MAP;
    if (loaded.form === 'int8-older' && target === 'int8') {
      out[name] = recode(loaded.codes, loaded.map, codeOf(buffer.compact));
      out[codeMapName(name)] = map;
      continue;
    }
    delete out[absmaxName(name)];
    delete out[codeMapName(name)];
    const values = loaded.values();
    if (target === 'full') {
      out[name] = dtypeOf(param) === 'float64' ? Float64Array.from(values) : values;
    } else if (target === 'bfloat16') {
      const stored = new Uint16Array(values.length);
      storeBf16Nearest(values, stored);
      out[name] = stored;
    } else {
      const codes = new Uint8Array(values.length);
      const absmax = new Float32Array(Math.ceil(values.length / COMPACT_BLOCK));
      quantizeBlocks(values, codes, absmax, map);
      out[name] = codes;
      out[absmaxName(name)] = absmax;
      out[codeMapName(name)] = map;
    }
  }
  return out;
}

/** Codes of an older `map` as codes of `code`: each to the code nearest its value (the absmax unchanged). */
function recode(codes: Uint8Array, map: Float32Array, code: Code8): Uint8Array {
  const into = Array.from(map, (value) => encode8(code, value, 1));
  return codes.map((c) => into[c]);
}

type Form = 'full' | 'bfloat16' | 'int8';

type Loaded =
  | { form: Form; values: () => Float32Array }
  | { form: 'int8-older'; values: () => Float32Array; codes: Uint8Array; map: Float32Array };

/** An 8-bit moment's absmax or code map as an engine view, or null when it is not a Float32Array (a Proxy of one is not). */
function float32Part(name: string, value: unknown): Float32Array | null {
  return typedArrayTag(value) === 'Float32Array' ? engineView(checkStateArray(name, value) as Float32Array) : null;
}

function loadedForm(
  where: string,
  entry: Record<string, unknown>,
  name: string,
  compact: 'signed' | 'unsigned',
  length: number,
  label: string,
  mismatch: (msg: string) => Error,
): Loaded {
  // Engine views (engineView), read by their engine lengths: a buffer's own `length` may claim
  // elements it does not have, and the widening loops below would read past them.
  const value = engineView(checkStateArray(`${where}: ${label}`, entry[name]));
  const checkLength = (array: StateArray, expected: number, what: string) => {
    if (lengthOf(array) !== expected) throw mismatch(`${what}: expected length ${expected}, got length ${lengthOf(array)}`);
  };
  if (value instanceof Float32Array || value instanceof Float64Array) {
    checkLength(value, length, label);
    return { form: 'full', values: () => (value instanceof Float32Array ? value.slice() : Float32Array.from(value)) };
  }
  if (value instanceof Uint16Array) {
    checkLength(value, length, label);
    return { form: 'bfloat16', values: () => widenBf16(value) };
  }
  if (value instanceof Uint8Array) {
    checkLength(value, length, label);
    const [rawAbsmax, rawMap] = [entry[absmaxName(name)], entry[codeMapName(name)]];
    const absmax = float32Part(`${where}: ${label}Absmax`, rawAbsmax);
    const map = float32Part(`${where}: ${label}CodeMap`, rawMap);
    if (absmax === null) throw mismatch(`${label}: 8-bit state needs ${absmaxName(name)}, a Float32Array; got ${describe(rawAbsmax)}`);
    const current = map !== null && isCurrentCodeMap(map, compact === 'signed');
    if (map === null || (!current && !isCodeMap(map))) {
      throw mismatch(
        `${label}: 8-bit state needs ${codeMapName(name)}, the map of the library's ${compact} code or an older map of 256 ascending float32 values in [-1, 1]; got ${describe(rawMap)}`,
      );
    }
    checkLength(absmax, Math.ceil(length / COMPACT_BLOCK), `${label}Absmax`);
    if (current) return { form: 'int8', values: () => dequantizeBlocks(value, absmax, map) };
    // An older map: its own values, map[code] · absmax.
    const values = () => Float32Array.from(value, (c, i) => Math.fround(map[c] * absmax[Math.floor(i / COMPACT_BLOCK)]));
    return { form: 'int8-older', values, codes: value, map };
  }
  throw mismatch(`${label}: expected a Float32Array, Float64Array, Uint16Array (bfloat16) or Uint8Array (8-bit codes), got ${describe(value)}`);
}

/** The bytes of state held: every distinct buffer once (a code map shared by every param counts once). */
export function stateBytes(state: ReadonlyArray<Record<string, StateArray | number | undefined>>): number {
  const seen = new Set<StateArray>();
  let bytes = 0;
  for (const entry of state) {
    for (const key in entry) {
      const value = entry[key];
      if (typeof value !== 'object' || seen.has(value)) continue;
      seen.add(value);
      bytes += value.byteLength;
    }
  }
  return bytes;
}
