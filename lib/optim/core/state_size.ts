/**
 * The size of an optimizer's state, in bytes and by element type: what
 * `stateDtype` changes, and what `fusedoptim train` prints before it starts
 * and `fusedoptim inspect` shows for a checkpoint.
 *
 * Every buffer counts once; a code map of 8-bit state (the same 256 float32
 * values for every moment of a kind) counts once per distinct content, so the
 * size is the same whether the maps are one shared array (a fresh optimizer),
 * per-param copies (after loadStateDict) or per-param tensors (a checkpoint).
 */
import { bytesPerElement } from '../../alloc';
import { isCodeMapKey } from '../../compact/state_storage';
import { StateArray, StateDType, Tensor, dtypeOf, lengthOf, stateDtypeOf } from '../../tensor';
import { groupParts } from './kernel_calls';
import type { ParamTable } from './param_table';
import { OptimizerSpec, bufferLength } from './spec';

/** How much memory an optimizer's state takes (stateSize()): in all, and by element type. */
export interface StateSize {
  /** Bytes of all the state buffers. */
  bytes: number;
  /** The same bytes by element type: { float32: 40960, uint8: 10240 }. */
  dtypes: Partial<Record<StateDType, number>>;
}

/** Adds up buffers, each once: by identity, and code maps by content. */
class Tally {
  private readonly seen = new Set<unknown>();
  readonly size: StateSize = { bytes: 0, dtypes: {} };

  held(array: StateArray, isCodeMap: boolean): void {
    this.add(isCodeMap ? contentKey(array) : array, stateDtypeOf(array)!, array.byteLength);
  }

  add(key: unknown, dtype: StateDType, bytes: number): void {
    if (key !== null) {
      if (this.seen.has(key)) return;
      this.seen.add(key);
    }
    this.size.bytes += bytes;
    this.size.dtypes[dtype] = (this.size.dtypes[dtype] ?? 0) + bytes;
  }
}

function contentKey(array: StateArray): string {
  return `${stateDtypeOf(array)}:${Buffer.from(array.buffer, array.byteOffset, array.byteLength).toString('base64')}`;
}

/** The size of the state held (a state dict's `state`, or an optimizer's). */
export function stateSize(state: Readonly<Record<number, Readonly<Record<string, StateArray | number | undefined>>>>): StateSize {
  const tally = new Tally();
  for (const entry of Object.values(state)) {
    for (const [key, value] of Object.entries(entry)) if (typeof value === 'object') tally.held(value, isCodeMapKey(entry, key));
  }
  return tally.size;
}

/**
 * The size the state will have once every param has stepped: the buffers
 * held as they are, the others as the param's first step will create them
 * (its group's kernel and storage, its length and shape). Allocates nothing.
 */
export function plannedStateSize<O>(spec: OptimizerSpec<O>, table: ParamTable, hypers: readonly O[], groupSizes: readonly number[]): StateSize {
  const tally = new Tally();
  let first = 0;
  groupSizes.forEach((count, gi) => {
    const indices = Array.from({ length: count }, (_, k) => first + k);
    first += count;
    for (const part of groupParts(spec, table, hypers[gi], indices)) {
      for (const i of part.indices) {
        const entry = table.state[i];
        for (const [key, value] of Object.entries(entry)) if (typeof value === 'object') tally.held(value, isCodeMapKey(entry, key));
        const param: Tensor = table.params[i];
        for (const name of part.choice.buffers) {
          if (entry[name] !== undefined) continue;
          const buffer = part.schema.buffers.find((b) => b.name === name)!;
          if (buffer.shared !== undefined) tally.held(buffer.shared, true);
          else {
            const dtype = buffer.dtype === 'param' ? dtypeOf(param) : buffer.dtype;
            tally.add(null, dtype, bufferLength(buffer, lengthOf(param), table.shapes[i]) * bytesPerElement(dtype));
          }
        }
      }
    }
  });
  return tally.size;
}

/** "optimizer state: 100416 bytes (float32 100416), 8 bytes per param": as `fusedoptim train` and `inspect` print it. */
export function formatStateSize(size: StateSize, params: number): string {
  // In name order, the same whichever buffer came first.
  const dtypes = Object.entries(size.dtypes)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([dtype, bytes]) => `${dtype} ${bytes}`);
  const perParam = params > 0 ? `, ${Number((size.bytes / params).toFixed(2))} bytes per param` : '';
  return `optimizer state: ${size.bytes} bytes${dtypes.length > 0 ? ` (${dtypes.join(', ')})` : ''}${perParam}`;
}
