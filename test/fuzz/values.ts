/**
 * Malformed values for the boundary fuzzer, drawn from a seeded generator: every kind of wrong
 * argument the issue lists (wrong types, typed arrays of every element type, views at odd byte
 * offsets, detached and resizable buffers, SharedArrayBuffers, the same buffer twice, lying
 * `length` getters, throwing getters, Proxies, NaN/Infinity/huge numbers).
 *
 * Every typed array made here is registered with the case (`made`), so that after a call that
 * throws the fuzzer can check that none of them changed.
 */
import type { Rng } from '../helpers/random';

/** ES2024's resizable ArrayBuffer (Node 20 has it; the project's TypeScript lib predates it). */
interface Resizable {
  resize(byteLength: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (byteLength: number, options: { maxByteLength: number }) => ArrayBuffer & Resizable;

/** Thrown by the fuzzer's own getters and traps: an error the library may let through, as long as it changed nothing. */
export class FuzzGetterError extends Error {}

/** What one case made: every typed array, to compare after a throw. */
export interface CaseMemory {
  made: ArrayBufferView[];
}

export class Draw {
  constructor(
    readonly rng: Rng,
    readonly memory: CaseMemory,
  ) {}

  int(n: number): number {
    return this.rng.nextInt(n);
  }
  chance(p: number): boolean {
    return this.rng.nextFloat() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** A typed array that is well formed: Float32Array or Float64Array of a small length, registered. */
  tensor(length = 1 + this.int(40), double = this.chance(0.3)): Float32Array | Float64Array {
    const t = double ? new Float64Array(length) : new Float32Array(length);
    for (let i = 0; i < length; i++) t[i] = this.rng.normal();
    return this.keep(t);
  }

  keep<T extends ArrayBufferView>(t: T): T {
    this.memory.made.push(t);
    return t;
  }

  /** A number a hyper-parameter, count or index must refuse (or, now and then, one that is fine). */
  number(): number {
    return this.pick([NaN, Infinity, -Infinity, -1, -0, 0, 0.5, 1, 1.5, 2, 3, 7, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 1e308, -1e308, Number.MIN_VALUE, Number.EPSILON]);
  }

  /** A typed array of any element type, possibly a view at an odd offset, shared, resizable or detached. */
  oddTypedArray(): ArrayBufferView {
    const length = this.pick([0, 1, 2, 3, 7, 16, 33]);
    const kind = this.int(7);
    const ctor = this.pick<new (buffer: ArrayBufferLike, offset?: number, length?: number) => ArrayBufferView>([
      Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
    ]);
    const size = (ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    switch (kind) {
      case 0: // a plain one
        return this.keep(new ctor(new ArrayBuffer(length * size)));
      case 1: {
        // a view that starts one element in (a float32 at byte 4 of a 64-byte-aligned buffer, ...)
        const buffer = new ArrayBuffer((length + 1) * size);
        return this.keep(new ctor(buffer, size, length));
      }
      case 2: // backed by a SharedArrayBuffer
        return this.keep(new ctor(new SharedArrayBuffer(length * size)));
      case 3: {
        // resizable, length-tracking, then shrunk or grown
        const buffer = new ResizableArrayBuffer(length * size, { maxByteLength: 64 * size });
        const view = this.keep(new ctor(buffer));
        buffer.resize(this.int(64) * size);
        return view;
      }
      case 4: {
        // detached
        const buffer = new ArrayBuffer(length * size);
        const view = new ctor(buffer);
        structuredClone(buffer, { transfer: [buffer] });
        return view;
      }
      case 5: {
        // a fixed-length view of a resizable buffer that then shrank under it (out of bounds)
        const buffer = new ResizableArrayBuffer(64 * size, { maxByteLength: 64 * size });
        const view = this.keep(new ctor(buffer, 0, Math.max(length, 1)));
        buffer.resize(0);
        return view;
      }
      default:
        return this.liar(this.keep(new ctor(new ArrayBuffer(length * size))));
    }
  }

  /** A real typed array whose `length` (or byteLength) says something else. */
  liar<T extends ArrayBufferView>(t: T): T {
    const claimed = this.pick([0, 1, 3, 1 << 20, 2 ** 40, -1, NaN]);
    Object.defineProperty(t, this.pick(['length', 'byteLength', 'byteOffset']), { get: () => claimed, configurable: true });
    return t;
  }

  /** An object whose every property read throws. */
  thrower(): object {
    return new Proxy({}, {
      get: () => {
        throw new FuzzGetterError('a throwing getter');
      },
      ownKeys: () => {
        throw new FuzzGetterError('a throwing ownKeys');
      },
      getOwnPropertyDescriptor: () => {
        throw new FuzzGetterError('a throwing descriptor');
      },
    });
  }

  /** Any wrong value at all. */
  junk(): unknown {
    switch (this.int(16)) {
      case 0:
        return this.number();
      case 1:
        return this.pick([undefined, null, true, false, '', '1', 'float32', Symbol('x'), 1n, -1n, () => 1]);
      case 2:
        return this.pick([{}, [], [[]], { length: 3 }, Object.create(null), new Map(), new Date(0), /x/]);
      case 3:
      case 4:
        return this.oddTypedArray();
      case 5:
        return this.thrower();
      case 6:
        return new Proxy(this.tensor(), {}); // looks like a Float32Array, is not one to the engine
      case 7:
        return this.liar(this.tensor());
      case 8:
        return Object.setPrototypeOf(this.tensor(), this.pick([Float32Array.prototype, Float64Array.prototype, Array.prototype]));
      case 9: {
        // a getter-bearing Array: the element read changes each time
        const a = [this.tensor(8), this.tensor(8)];
        let reads = 0;
        Object.defineProperty(a, 0, { get: () => (reads++ % 2 === 0 ? a[1] : this.tensor(3)), enumerable: true });
        return a;
      }
      case 10: {
        const a: unknown[] = [this.tensor()];
        Object.defineProperty(a, 'length', { value: 100_000 }); // a sparse array: holes, not tensors
        return a;
      }
      case 11: {
        // two views of one buffer that overlap
        const buffer = new ArrayBuffer(64);
        return [this.keep(new Float32Array(buffer, 0, 8)), this.keep(new Float32Array(buffer, 16, 8))];
      }
      case 12: {
        const t = this.tensor();
        return [t, t]; // the same buffer twice
      }
      case 13:
        return new Array(this.pick([0, 1, 5, 1000])).fill(this.tensor(2));
      case 14:
        return new Proxy([this.tensor(4)], { get: (target, key) => (key === 'length' ? 1000 : Reflect.get(target, key)) });
      default:
        return this.tensor(this.pick([0, 1, 2, 5]));
    }
  }

  /**
   * `args` with one thing wrong: an argument replaced, an element of an Array argument replaced,
   * a field of an object argument replaced, an argument dropped or one too many.
   */
  mutate(args: unknown[]): unknown[] {
    const out = [...args];
    switch (this.int(6)) {
      case 0:
      case 1:
        out[this.int(Math.max(out.length, 1))] = this.junk();
        break;
      case 2: {
        const arrays = out.map((a, i) => (Array.isArray(a) && a.length > 0 ? i : -1)).filter((i) => i >= 0);
        if (arrays.length === 0) return this.mutate(args);
        const i = this.pick(arrays);
        const copy = [...(out[i] as unknown[])];
        copy[this.int(copy.length)] = this.junk();
        out[i] = copy;
        break;
      }
      case 3: {
        const objects = out.map((a, i) => (a !== null && typeof a === 'object' && !Array.isArray(a) && !ArrayBuffer.isView(a) ? i : -1)).filter((i) => i >= 0);
        if (objects.length === 0) return this.mutate(args);
        const i = this.pick(objects);
        const keys = Object.keys(out[i] as object);
        const key = keys.length > 0 && this.chance(0.8) ? this.pick(keys) : this.pick(['lr', 'momentum', 'betas', 'eps', 'weightDecay', 'maxGradNorm', 'normType', 'backend', 'params', '__proto__']);
        out[i] = { ...(out[i] as object), [key]: this.chance(0.6) ? this.number() : this.junk() };
        break;
      }
      case 4:
        out.length = this.int(out.length + 1);
        break;
      default:
        out.push(this.junk());
    }
    return out;
  }
}
