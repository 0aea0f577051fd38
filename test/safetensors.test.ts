import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ErrorCodes } from '../lib/errors';
import type { StateArray, Tensor } from '../lib/tensor';
import { MAX_HEADER_BYTES, TensorToWrite, encodeSafetensors, parseSafetensors } from '../lib/train/safetensors';
import { expectBitIdentical } from './helpers/bits';
import { expectError } from './helpers/errors';

/** The whole file as one Buffer (the encoder returns chunks for writev). */
function encodeToBuffer(tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>, metadata?: Record<string, string>): Buffer {
  return Buffer.concat(encodeSafetensors(tensors, metadata));
}

/** A file assembled by hand: length prefix, the header text exactly as given, then the data bytes. */
function assemble(header: string | Buffer, data: Buffer | number[] = []): Buffer {
  const headerBytes = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  return Buffer.concat([prefix, headerBytes, Buffer.from(data)]);
}

function f32Bytes(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

/** Asserts the same typed array type, length and bytes (expectBitIdentical, for every state dtype). */
function expectSameBytes(actual: StateArray, expected: StateArray, label: string): void {
  expect(actual.constructor, `${label}: type`).to.equal(expected.constructor);
  expect(actual.length, `${label}: length`).to.equal(expected.length);
  const bytes = (t: StateArray) => Buffer.from(t.buffer, t.byteOffset, t.byteLength);
  expect(bytes(actual).equals(bytes(expected)), `${label}: bytes`).to.equal(true);
}

/** bfloat16 bit patterns of odd length: 1, -3, -0, +Infinity, a NaN with a payload, the smallest subnormal, 0xffff. */
const BF16_PATTERNS = [0x3f80, 0xc040, 0x8000, 0x7f80, 0x7fc1, 0x0001, 0xffff];

/** The header of an encoded file, parsed, and where its data section starts. */
function headerOf(bytes: Buffer): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; dataStart: number } {
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')), dataStart: 8 + n };
}

/** Expects parseSafetensors to reject `bytes` as corrupt, with a message matching `pattern`. */
function expectCorrupt(bytes: Uint8Array, pattern?: RegExp): void {
  expectError(() => parseSafetensors(bytes), { type: RangeError, code: ErrorCodes.CHECKPOINT_CORRUPT, mentions: pattern ? [pattern] : [] }, 'parseSafetensors');
}

/** Parses or rejects as corrupt; anything else (a SyntaxError, a crash) fails the test. */
function parsesOrCorrupt(bytes: Uint8Array): 'parsed' | 'corrupt' {
  try {
    parseSafetensors(bytes);
    return 'parsed';
  } catch (err) {
    expect(err).to.be.instanceOf(RangeError);
    expect((err as { code?: string }).code, (err as Error).message).to.equal(ErrorCodes.CHECKPOINT_CORRUPT);
    return 'corrupt';
  }
}

/** A small file with two tensors and metadata, used by the corruption tests. */
function smallFile(): Buffer {
  return encodeToBuffer(
    { w: { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] }, b: { data: new Float64Array([0.5, -0.25]), shape: [2] } },
    { step: '7' },
  );
}

describe('safetensors', () => {
  describe('round trip', () => {
    it('returns the same tensors, bit for bit, and the same metadata', () => {
      const special = new Float32Array([NaN, -0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38]);
      const weights = Float64Array.from({ length: 24 }, (_, i) => Math.sin(i) * 1e-3);
      const scalar = new Float32Array([42]);
      const empty = new Float64Array(0);
      const tensors = new Map<string, TensorToWrite>([
        ['layers.0.weight', { data: special, shape: [2, 3] }],
        ['exp_avg', { data: weights, shape: [2, 3, 4] }],
        ['step', { data: scalar, shape: [] }],
        ['nothing', { data: empty, shape: [0, 5] }],
        ['0', { data: new Float32Array([1]), shape: [1] }],
        ['__proto__', { data: new Float32Array([2]), shape: [1] }],
        ['ünïcødé "quoted" \\ name', { data: new Float32Array([3]), shape: [1, 1] }],
      ]);
      const metadata = { format: 'pt', note: 'ünïcødé, "quotes", \\ and \n newline', __proto__key: 'x' };
      const parsed = parseSafetensors(encodeToBuffer(tensors, metadata));

      expect(parsed.metadata).to.deep.equal(metadata);
      expect([...parsed.tensors.keys()].sort()).to.deep.equal([...tensors.keys()].sort());
      for (const [name, tensor] of tensors) {
        const read = parsed.tensors.get(name)!;
        expect(read.dtype, name).to.equal(tensor.data instanceof Float32Array ? 'F32' : 'F64');
        expect(read.shape, name).to.deep.equal(tensor.shape);
        expect(read.data.constructor, name).to.equal(tensor.data.constructor);
        expectBitIdentical(read.data as Tensor, tensor.data as Tensor, name);
      }
    });

    it('accepts a plain object of tensors and no metadata', () => {
      const parsed = parseSafetensors(encodeToBuffer({ a: { data: new Float32Array([1, 2]), shape: [2] } }));
      expect(parsed.metadata).to.deep.equal({});
      expect(Array.from(parsed.tensors.get('a')!.data)).to.deep.equal([1, 2]);
    });

    it('writes an empty file as the 16 bytes of the reference implementation', () => {
      const bytes = encodeToBuffer({});
      expect([...bytes]).to.deep.equal([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]);
      expect(parseSafetensors(bytes).tensors.size).to.equal(0);
    });

    it('returns copies: changing the file bytes afterwards does not change the tensors', () => {
      const bytes = encodeToBuffer({ a: { data: new Float32Array([1, 2]), shape: [2] } });
      const parsed = parseSafetensors(bytes);
      bytes.fill(0, bytes.length - 8);
      expect(Array.from(parsed.tensors.get('a')!.data)).to.deep.equal([1, 2]);
    });

    it('decodes tensors whose bytes lie at any alignment in the input buffer', () => {
      const file = smallFile();
      for (let shift = 0; shift < 8; shift++) {
        const host = Buffer.alloc(file.length + shift);
        file.copy(host, shift);
        const parsed = parseSafetensors(host.subarray(shift));
        const w = parsed.tensors.get('w')!.data;
        const b = parsed.tensors.get('b')!.data;
        expect(Array.from(w), `shift ${shift}`).to.deep.equal([1, 2, 3, 4, 5, 6]);
        expect(Array.from(b), `shift ${shift}`).to.deep.equal([0.5, -0.25]);
        expect(w.byteOffset % 4).to.equal(0);
        expect(b.byteOffset % 8).to.equal(0);
      }
    });

    it('returns BF16 and U8 tensors of odd lengths byte for byte, beside F64 and F32 ones, at any input alignment', () => {
      const bf16 = Uint16Array.from(BF16_PATTERNS);
      const u8 = Uint8Array.from([0, 1, 127, 128, 255]);
      const tensors = new Map<string, TensorToWrite>([
        ['scales', { data: u8, shape: [5] }],
        ['moments', { data: bf16, shape: [7, 1] }],
        ['weight', { data: Float32Array.from([1.5, -0, NaN]), shape: [3] }],
        ['exp_avg_sq', { data: Float64Array.from([Math.PI, -1e-300, Infinity]), shape: [1, 3] }],
        ['empty_bf16', { data: new Uint16Array(0), shape: [0] }],
        ['one_u8', { data: Uint8Array.from([42]), shape: [] }],
        // A Buffer is a Uint8Array: written as U8, read back as a plain Uint8Array.
        ['buffer', { data: Buffer.from([9, 8, 7]), shape: [3] }],
      ]);
      const file = encodeToBuffer(tensors, { k: 'v' });
      const expectedDtypes: Record<string, string> = {
        scales: 'U8', moments: 'BF16', weight: 'F32', exp_avg_sq: 'F64', empty_bf16: 'BF16', one_u8: 'U8', buffer: 'U8',
      };
      for (let shift = 0; shift < 8; shift++) {
        const host = Buffer.alloc(file.length + shift);
        file.copy(host, shift);
        const parsed = parseSafetensors(host.subarray(shift));
        expect(parsed.metadata).to.deep.equal({ k: 'v' });
        expect([...parsed.tensors.keys()].sort()).to.deep.equal([...tensors.keys()].sort());
        for (const [name, tensor] of tensors) {
          const read = parsed.tensors.get(name)!;
          const what = `${name}, shift ${shift}`;
          expect(read.dtype, what).to.equal(expectedDtypes[name]);
          expect(read.shape, what).to.deep.equal(tensor.shape);
          const expected = name === 'buffer' ? Uint8Array.from(tensor.data as Uint8Array) : tensor.data;
          expectSameBytes(read.data, expected, what);
          expect(read.data.byteOffset % read.data.BYTES_PER_ELEMENT, what).to.equal(0);
        }
      }
      // Fresh copies, not views of the file.
      const parsed = parseSafetensors(file);
      file.fill(0, Number(file.readBigUInt64LE(0)) + 8);
      expect(Array.from(parsed.tensors.get('moments')!.data)).to.deep.equal(BF16_PATTERNS);
      expect(Array.from(parsed.tensors.get('scales')!.data)).to.deep.equal([0, 1, 127, 128, 255]);
    });
  });

  describe('byte layout', () => {
    it('matches a hand-assembled file (the reference implementation\'s test vector)', () => {
      // 64 bytes of JSON: already a multiple of 8, so no padding.
      const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
      const expected = assemble(header, f32Bytes([0, 1, 2, 3, 4, 5]));
      const encoded = encodeToBuffer({ 'attn.0': { data: new Float32Array([0, 1, 2, 3, 4, 5]), shape: [1, 2, 3] } });
      expect(encoded.equals(expected)).to.equal(true);
      expect(Array.from(parseSafetensors(expected).tensors.get('attn.0')!.data)).to.deep.equal([0, 1, 2, 3, 4, 5]);
    });

    it('pads the header with spaces to a multiple of 8 bytes', () => {
      // 65 bytes of JSON, then 7 spaces: header length 72.
      const json = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
      const expected = assemble(json + ' '.repeat(7), f32Bytes([0, 1, 2, 3, 4, 5]));
      expect(expected.readBigUInt64LE(0)).to.equal(72n);
      const encoded = encodeToBuffer({ attn0: { data: new Float32Array([0, 1, 2, 3, 4, 5]), shape: [1, 1, 2, 3] } });
      expect(encoded.equals(expected)).to.equal(true);
    });

    it('writes metadata first and F64 tensors before F32 ones, so every tensor is aligned', () => {
      const bytes = encodeToBuffer(
        {
          small: { data: new Float32Array([1]), shape: [1] },
          big: { data: new Float64Array([2, 3]), shape: [2] },
          other: { data: new Float32Array([4, 5]), shape: [2] },
        },
        { k: 'v' },
      );
      const n = Number(bytes.readBigUInt64LE(0));
      const header = bytes.subarray(8, 8 + n).toString('utf8');
      expect(header.trimEnd()).to.equal(
        '{"__metadata__":{"k":"v"},' +
          '"big":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},' +
          '"small":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},' +
          '"other":{"dtype":"F32","shape":[2],"data_offsets":[20,28]}}',
      );
      expect((8 + n) % 8).to.equal(0);
      expect(bytes.readDoubleLE(8 + n)).to.equal(2);
      expect(bytes.readFloatLE(8 + n + 20)).to.equal(4);
    });

    it('records BF16 and U8 with their data_offsets, laid out F64, F32, BF16, U8 so every tensor is aligned to its element size', () => {
      const bytes = encodeToBuffer({
        u: { data: Uint8Array.from([1, 2, 3]), shape: [3] },
        b: { data: Uint16Array.from([0x3f80, 0xc040, 0x7fc1]), shape: [3] },
        f: { data: new Float32Array([5]), shape: [1] },
        b2: { data: Uint16Array.from([0x1234]), shape: [1, 1] },
        d: { data: new Float64Array([6]), shape: [] },
        u2: { data: Uint8Array.from([0xfe]), shape: [1] },
      });
      const { header, dataStart } = headerOf(bytes);
      expect(Object.keys(header)).to.deep.equal(['d', 'f', 'b', 'b2', 'u', 'u2']);
      expect(header).to.deep.equal({
        d: { dtype: 'F64', shape: [], data_offsets: [0, 8] },
        f: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
        b: { dtype: 'BF16', shape: [3], data_offsets: [12, 18] },
        b2: { dtype: 'BF16', shape: [1, 1], data_offsets: [18, 20] },
        u: { dtype: 'U8', shape: [3], data_offsets: [20, 23] },
        u2: { dtype: 'U8', shape: [1], data_offsets: [23, 24] },
      });
      const sizes: Record<string, number> = { F64: 8, F32: 4, BF16: 2, U8: 1 };
      expect(dataStart % 8).to.equal(0);
      for (const [name, entry] of Object.entries(header)) expect(entry.data_offsets[0] % sizes[entry.dtype], name).to.equal(0);
      // The BF16 patterns are stored little-endian, as the specification says.
      expect([0, 1, 2].map((k) => bytes.readUInt16LE(dataStart + 12 + 2 * k))).to.deep.equal([0x3f80, 0xc040, 0x7fc1]);
      expect(bytes.readUInt16LE(dataStart + 18)).to.equal(0x1234);
      expect([...bytes.subarray(dataStart + 20)]).to.deep.equal([1, 2, 3, 0xfe]);
      expect(bytes.length).to.equal(dataStart + 24);
    });

    it('returns views of the tensors, not copies (on little-endian hosts)', function () {
      if (os.endianness() !== 'LE') this.skip();
      const data = new Float64Array(1000).fill(1);
      const chunks = encodeSafetensors({ a: { data, shape: [1000] } });
      expect(chunks).to.have.length(2);
      expect(chunks[1].buffer).to.equal(data.buffer);
    });
  });

  describe('encoding arguments', () => {
    const typeOrRange = (fn: () => unknown, code: string): void => {
      expect(fn).to.throw().with.property('code', code);
    };
    it('rejects a shape that does not match the data length', () => {
      typeOrRange(() => encodeSafetensors({ a: { data: new Float32Array(6), shape: [2, 2] } }), ErrorCodes.SHAPE_MISMATCH);
    });
    it('rejects negative or fractional dimensions', () => {
      typeOrRange(() => encodeSafetensors({ a: { data: new Float32Array(0), shape: [-1] } }), ErrorCodes.OUT_OF_RANGE);
      typeOrRange(() => encodeSafetensors({ a: { data: new Float32Array(1), shape: [0.5, 2] } }), ErrorCodes.OUT_OF_RANGE);
    });
    it('rejects data that is not a Float32Array, Float64Array, Uint16Array or Uint8Array', () => {
      typeOrRange(() => encodeSafetensors({ a: { data: [1, 2] as never, shape: [2] } }), ErrorCodes.INVALID_ARG_TYPE);
      for (const data of [new Int32Array(2), new Int16Array(2), new Uint32Array(2), new Uint8ClampedArray(2), new Int8Array(2)]) {
        expectError(
          () => encodeSafetensors({ a: { data: data as never, shape: [2] } }),
          { type: TypeError, code: ErrorCodes.INVALID_ARG_TYPE, mentions: ['tensors["a"].data', 'Uint16Array (bfloat16) or Uint8Array', data.constructor.name] },
          data.constructor.name,
        );
      }
    });
    it('rejects the reserved name __metadata__ and non-string metadata values', () => {
      typeOrRange(() => encodeSafetensors({ __metadata__: { data: new Float32Array(1), shape: [1] } }), ErrorCodes.INVALID_ARG_VALUE);
      typeOrRange(() => encodeSafetensors({}, { step: 3 as never }), ErrorCodes.INVALID_ARG_TYPE);
    });
  });

  describe('corrupt files', () => {
    it('rejects every truncation of a small file', () => {
      const file = smallFile();
      for (let length = 0; length < file.length; length++) expectCorrupt(file.subarray(0, length));
    });

    it('rejects trailing bytes', () => {
      expectCorrupt(Buffer.concat([smallFile(), Buffer.from([0])]), /1 trailing bytes/);
    });

    it('never fails other than as corrupt when any header byte is flipped, and catches structural damage', () => {
      const file = smallFile();
      const dataStart = 8 + Number(file.readBigUInt64LE(0));
      const outcomes = { parsed: 0, corrupt: 0 };
      for (let i = 0; i < dataStart; i++) {
        for (const mask of [0x01, 0x20, 0x80, 0xff]) {
          const damaged = Buffer.from(file);
          damaged[i] ^= mask;
          outcomes[parsesOrCorrupt(damaged)]++;
        }
      }
      // A flip inside a name or a metadata value can yield another valid file (safetensors has
      // no checksum); everything else must be caught.
      expect(outcomes.corrupt).to.be.greaterThan(outcomes.parsed * 4);
      // Each byte of the length prefix, of the braces, quotes and numbers is structural.
      const header = file.subarray(8, dataStart).toString('latin1');
      const structural = [0, 1, 2, 7, 8, 8 + header.indexOf('F32') + 1, 8 + header.indexOf('[2,3]') + 1, 8 + header.lastIndexOf('}')];
      for (const i of structural) {
        const damaged = Buffer.from(file);
        damaged[i] ^= 0x01;
        expectCorrupt(damaged);
      }
    });

    it('rejects a header length beyond the file, or absurdly large', () => {
      const file = smallFile();
      const longer = Buffer.from(file);
      longer.writeBigUInt64LE(BigInt(file.length), 0);
      expectCorrupt(longer, /runs past the end/);
      for (const n of [BigInt(MAX_HEADER_BYTES) + 1n, 2n ** 63n, 2n ** 64n - 1n]) {
        const huge = Buffer.from(file);
        huge.writeBigUInt64LE(n, 0);
        expectCorrupt(huge, /exceeds the limit/);
      }
    });

    it('rejects a header that is not UTF-8, not JSON, or not an object', () => {
      expectCorrupt(assemble(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), /not valid UTF-8/);
      expectCorrupt(assemble('{"a": '), /not valid JSON/);
      expectCorrupt(assemble('\ufeff{}'), /not valid JSON/); // a byte-order mark is not JSON
      expectCorrupt(assemble(''), /not valid JSON/);
      expectCorrupt(assemble('[]'), /must be a JSON object/);
      expectCorrupt(assemble('null'), /must be a JSON object/);
      expectCorrupt(assemble('"text"'), /must be a JSON object/);
    });

    it('never lets a SyntaxError out of JSON.parse', () => {
      for (const text of ['{', '}', '{"a":}', "{'a':1}", '{"a":1,}', 'NaN', '\u0000']) {
        expect(parsesOrCorrupt(assemble(text))).to.equal('corrupt');
      }
    });

    it('rejects duplicate keys, which JSON.parse would silently merge', () => {
      const entry = (begin: number, end: number): string => `{"dtype":"F32","shape":[1],"data_offsets":[${begin},${end}]}`;
      expectCorrupt(assemble(`{"a":${entry(0, 4)},"a":${entry(4, 8)}}`, f32Bytes([1, 2])), /key "a" twice/);
      expectCorrupt(assemble(`{"a":${entry(0, 4)},"\\u0061":${entry(0, 4)}}`, f32Bytes([1])), /key "a" twice/);
      expectCorrupt(assemble('{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32Bytes([1])), /key "dtype" twice/);
      expectCorrupt(assemble('{"__metadata__":{"k":"1","k":"2"}}'), /key "k" twice/);
      // The same key in different objects, and keys inside strings, are not duplicates.
      const ok = assemble('{"__metadata__":{"a":"\\"a\\":","dtype":"x"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32Bytes([1]));
      expect(parseSafetensors(ok).metadata).to.deep.equal({ a: '"a":', dtype: 'x' });
    });

    // Each case: a header (data section 8 bytes of zeros unless given) and what the message must say.
    const one = (fields: string, data = 8): [string, number] => [`{"t":{${fields}}}`, data];
    const cases: [string, [string, number], RegExp][] = [
      ['an entry that is not an object', ['{"t":[1,2]}', 0], /tensor "t": expected an object/],
      ['a missing dtype', one('"shape":[2],"data_offsets":[0,8]'), /missing "dtype"/],
      ['a missing shape', one('"dtype":"F32","data_offsets":[0,8]'), /missing "shape"/],
      ['missing data_offsets', one('"dtype":"F32","shape":[2]'), /missing "data_offsets"/],
      ['an unknown field', one('"dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8]'), /unknown field "offsets"/],
      ['an unknown dtype', one('"dtype":"F33","shape":[2],"data_offsets":[0,8]'), /unknown dtype "F33"/],
      ['a dtype that is a prototype property', one('"dtype":"toString","shape":[2],"data_offsets":[0,8]'), /unknown dtype/],
      ['a dtype that is not a string', one('"dtype":4,"shape":[2],"data_offsets":[0,8]'), /unknown dtype 4/],
      ['a lower-case dtype', one('"dtype":"f32","shape":[2],"data_offsets":[0,8]'), /unknown dtype "f32"/],
      ['a valid but unsupported dtype', one('"dtype":"I64","shape":[1],"data_offsets":[0,8]'), /I64 is valid safetensors but not supported/],
      ['an I32 tensor', one('"dtype":"I32","shape":[2],"data_offsets":[0,8]'), /I32 is valid safetensors but not supported here \(fusedoptim reads F32, F64, BF16 and U8\)/],
      ['an F16 tensor', one('"dtype":"F16","shape":[4],"data_offsets":[0,8]'), /F16 is valid safetensors but not supported here \(fusedoptim reads F32, F64, BF16 and U8\)/],
      ['a U16 tensor (not BF16, although held the same way)', one('"dtype":"U16","shape":[4],"data_offsets":[0,8]'), /U16 is valid safetensors but not supported/],
      ['a BOOL tensor', one('"dtype":"BOOL","shape":[8],"data_offsets":[0,8]'), /BOOL is valid safetensors but not supported/],
      ['a negative dimension', one('"dtype":"F32","shape":[-2],"data_offsets":[0,8]'), /shape must be an array of non-negative integers/],
      ['a fractional dimension', one('"dtype":"F32","shape":[1.5],"data_offsets":[0,8]'), /non-negative integers/],
      ['a dimension that is a string', one('"dtype":"F32","shape":["2"],"data_offsets":[0,8]'), /non-negative integers/],
      ['a shape that is not an array', one('"dtype":"F32","shape":2,"data_offsets":[0,8]'), /non-negative integers/],
      ['a shape whose size overflows', one('"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]'), /needs .* bytes/],
      ['offsets that are not a pair', one('"dtype":"F32","shape":[2],"data_offsets":[0,4,8]'), /data_offsets must be \[begin, end\]/],
      ['negative offsets', one('"dtype":"F32","shape":[2],"data_offsets":[-8,0]'), /data_offsets must be/],
      ['fractional offsets', one('"dtype":"F32","shape":[2],"data_offsets":[0,7.5]'), /data_offsets must be/],
      ['offsets beyond 2^53', one('"dtype":"F32","shape":[2],"data_offsets":[9007199254740993,9007199254741001]'), /data_offsets must be/],
      ['offsets as strings', one('"dtype":"F32","shape":[2],"data_offsets":["0","8"]'), /data_offsets must be/],
      ['an end before the begin', one('"dtype":"F32","shape":[0],"data_offsets":[8,0]'), /end before they begin/],
      ['an end past the data', one('"dtype":"F32","shape":[4],"data_offsets":[0,16]'), /run past the end of the 8-byte data section/],
      ['a byte length that does not match the shape', one('"dtype":"F64","shape":[2],"data_offsets":[0,8]'), /shape \[2\] of F64 needs 16 bytes, but data_offsets \[0, 8\] hold 8/],
      ['a BF16 span that is not 2 bytes per element', one('"dtype":"BF16","shape":[3],"data_offsets":[0,8]'), /shape \[3\] of BF16 needs 6 bytes, but data_offsets \[0, 8\] hold 8/],
      ['a BF16 span of an odd byte count', one('"dtype":"BF16","shape":[3],"data_offsets":[0,7]', 7), /shape \[3\] of BF16 needs 6 bytes, but data_offsets \[0, 7\] hold 7/],
      ['a BF16 span of one element per byte', one('"dtype":"BF16","shape":[8],"data_offsets":[0,8]'), /shape \[8\] of BF16 needs 16 bytes/],
      ['a U8 span that is not 1 byte per element', one('"dtype":"U8","shape":[2,3],"data_offsets":[0,8]'), /shape \[2, 3\] of U8 needs 6 bytes, but data_offsets \[0, 8\] hold 8/],
      ['a hole at the start', one('"dtype":"F32","shape":[1],"data_offsets":[4,8]'), /bytes \[0, 4\) of the data section belong to no tensor/],
      ['trailing bytes', one('"dtype":"F32","shape":[1],"data_offsets":[0,4]'), /4 trailing bytes/],
      [
        'a hole between tensors',
        ['{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', 12],
        /bytes \[4, 8\) .* belong to no tensor \(before "b"\)/,
      ],
      [
        'overlapping tensors',
        ['{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8],
        /tensor "b" \[4, 8\] overlaps tensor "a" \[0, 8\]/,
      ],
      [
        'two tensors on the same bytes',
        ['{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 8],
        /overlaps/,
      ],
      // The reference reader (serde, usize) refuses numbers that JSON.parse turns into integers.
      ['an offset written with an exponent', one('"dtype":"U8","shape":[8],"data_offsets":[0,8e0]'), /number 8e0: .* plain non-negative integer/],
      ['an offset written as 1e2', one('"dtype":"U8","shape":[100],"data_offsets":[0,1e2]', 100), /number 1e2/],
      ['an offset written with a fraction', one('"dtype":"F32","shape":[2],"data_offsets":[0,8.0]'), /number 8\.0/],
      ['an offset written as -0', one('"dtype":"F32","shape":[2],"data_offsets":[-0,8]'), /number -0/],
      ['a dimension written as 2.0', one('"dtype":"F32","shape":[2.0],"data_offsets":[0,8]'), /number 2\.0/],
      ['a dimension with an upper-case exponent', one('"dtype":"F32","shape":[2E0],"data_offsets":[0,8]'), /number 2E0/],
      ['a metadata value that is not a string', ['{"__metadata__":{"step":7}}', 0], /__metadata__\["step"\] must be a string, got 7/],
      ['metadata that is an array', ['{"__metadata__":["a"]}', 0], /__metadata__ must be an object of strings/],
    ];
    for (const [what, [header, dataLength], message] of cases) {
      it(`rejects ${what}`, () => expectCorrupt(assemble(header, Buffer.alloc(dataLength)), message));
    }

    it('accepts what the format allows: empty tensors sharing an offset, null metadata, whitespace in the header', () => {
      const header =
        ' {\n "__metadata__" : null,\t"e1":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},' +
        '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e2":{"dtype":"F64","shape":[3,0],"data_offsets":[4,4]}}   ';
      const parsed = parseSafetensors(assemble(header, f32Bytes([7])));
      expect(parsed.metadata).to.deep.equal({});
      expect([...parsed.tensors.keys()]).to.deep.equal(['a', 'e1', 'e2']);
      expect(parsed.tensors.get('e2')!.shape).to.deep.equal([3, 0]);
      expect(parsed.tensors.get('e2')!.data).to.be.instanceOf(Float64Array);
    });

    it('rejects input that is not bytes with a type error', () => {
      expect(() => parseSafetensors('file' as never)).to.throw(TypeError).with.property('code', ErrorCodes.INVALID_ARG_TYPE);
      expect(() => parseSafetensors(new Proxy(new Uint8Array(16), {}))).to.throw(TypeError).with.property('code', ErrorCodes.INVALID_ARG_TYPE);
    });

    it('reads the bytes the array has, not the count its own length claims (the fuzzer\'s seed 6, case 8602)', () => {
      const file = Buffer.concat(encodeSafetensors({ a: { data: new Float32Array([1, 2]), shape: [2] } }));
      Object.defineProperty(file, 'length', { get: () => 2 ** 40 });
      expect(Array.from(parseSafetensors(file).tensors.get('a')!.data)).to.deep.equal([1, 2]);
      const short = new Uint8Array(2);
      Object.defineProperty(short, 'length', { get: () => 2 ** 40 });
      expectCorrupt(short, /file is 2 bytes long/);
    });

    it('refuses a detached buffer as such', () => {
      const bytes = new Uint8Array(16);
      structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
      expectError(() => parseSafetensors(bytes), { type: TypeError, code: ErrorCodes.DETACHED_BUFFER });
    });
  });

  describe('interoperability with Python safetensors', () => {
    // CI installs safetensors and numpy into a virtual environment and names its interpreter here.
    const python = process.env.FUSEDOPTIM_PYTHON || 'python3';
    const hasPythonSafetensors = spawnSync(python, ['-c', 'import safetensors.numpy'], { encoding: 'utf8' }).status === 0;
    /** Skips the test without Python's safetensors, saying so. */
    function requirePython(test: Mocha.Context): void {
      if (!hasPythonSafetensors) {
        console.log(`      (skipped: ${python} with the safetensors package is not installed on this machine; set FUSEDOPTIM_PYTHON to an interpreter that has it)`);
        test.skip();
      }
    }
    /** Skips the test without Python's safetensors; else a scratch directory and the two files' paths in it. */
    function pythonScratch(test: Mocha.Context): { dir: string; ours: string; theirs: string } {
      requirePython(test);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-st-'));
      return { dir, ours: path.join(dir, 'ours.safetensors'), theirs: path.join(dir, 'theirs.safetensors') };
    }

    it('Python reads our file, and we read Python\'s', function () {
      const { dir, ours, theirs } = pythonScratch(this);
      try {
        fs.writeFileSync(
          ours,
          encodeToBuffer(
            { w: { data: new Float32Array([1.5, -2, 3.25, 0]), shape: [2, 2] }, s: { data: new Float64Array([Math.PI]), shape: [] } },
            { step: '12' },
          ),
        );
        const script = `
import sys, json, numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
with safe_open(sys.argv[1], framework="np") as f:
    out = {"metadata": f.metadata(), "tensors": {k: {"dtype": str(f.get_tensor(k).dtype), "shape": list(f.get_tensor(k).shape), "values": f.get_tensor(k).ravel().tolist()} for k in f.keys()}}
save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([0.1, 0.2], dtype=np.float64)}, sys.argv[2], metadata={"from": "python"})
print(json.dumps(out))
`;
        const run = spawnSync(python, ['-c', script, ours, theirs], { encoding: 'utf8' });
        expect(run.status, run.stderr).to.equal(0);
        const seen = JSON.parse(run.stdout);
        expect(seen.metadata).to.deep.equal({ step: '12' });
        expect(seen.tensors.w).to.deep.equal({ dtype: 'float32', shape: [2, 2], values: [1.5, -2, 3.25, 0] });
        expect(seen.tensors.s).to.deep.equal({ dtype: 'float64', shape: [], values: [Math.PI] });

        const parsed = parseSafetensors(fs.readFileSync(theirs));
        expect(parsed.metadata).to.deep.equal({ from: 'python' });
        expect(parsed.tensors.get('a')!.shape).to.deep.equal([2, 3]);
        expect(Array.from(parsed.tensors.get('a')!.data)).to.deep.equal([0, 1, 2, 3, 4, 5]);
        expect(Array.from(parsed.tensors.get('b')!.data)).to.deep.equal([0.1, 0.2]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('Python reads our BF16 and U8 tensors with the same bits, and we read its U8', function () {
      const { dir, ours, theirs } = pythonScratch(this);
      try {
        const u8 = [0, 1, 127, 128, 255];
        fs.writeFileSync(
          ours,
          encodeToBuffer({
            u: { data: Uint8Array.from(u8), shape: [5] },
            b: { data: Uint16Array.from(BF16_PATTERNS), shape: [7, 1] },
            f: { data: new Float32Array([0.5]), shape: [1] },
            d: { data: new Float64Array([Math.E, 2, 3]), shape: [3] },
          }),
        );
        // numpy has no bfloat16: when safe_open cannot hand a BF16 tensor to numpy, its bits are
        // read from the file's bytes at the offsets of the header safe_open accepted.
        const script = `
import sys, json, struct, numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
path = sys.argv[1]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
out = {}
with safe_open(path, framework="np") as f:
    for k in f.keys():
        dtype = f.get_slice(k).get_dtype()
        shape = list(f.get_slice(k).get_shape())
        if dtype == "BF16":
            try:
                bits = f.get_tensor(k).view(np.uint16)
                source = "safe_open"
            except TypeError:
                begin, end = header[k]["data_offsets"]
                bits = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype="<u2")
                source = "file bytes"
            values = (bits.astype(np.uint32) << 16).view(np.float32)
            out[k] = {"dtype": dtype, "shape": shape, "bits": bits.ravel().tolist(), "finite": [float(v) for v in values.ravel()[:2]], "source": source}
        else:
            t = f.get_tensor(k)
            out[k] = {"dtype": dtype, "numpy": str(t.dtype), "shape": shape, "values": t.ravel().tolist()}
save_file({"q": np.array([[3, 0], [255, 17]], dtype=np.uint8)}, sys.argv[2])
print(json.dumps(out))
`;
        const run = spawnSync(python, ['-c', script, ours, theirs], { encoding: 'utf8' });
        expect(run.status, run.stderr).to.equal(0);
        const seen = JSON.parse(run.stdout);
        expect(seen.b.dtype).to.equal('BF16');
        expect(seen.b.shape).to.deep.equal([7, 1]);
        expect(seen.b.bits).to.deep.equal(BF16_PATTERNS);
        expect(seen.b.finite).to.deep.equal([1, -3]); // the upper halves of float32 1 and -3
        expect(seen.u).to.deep.equal({ dtype: 'U8', numpy: 'uint8', shape: [5], values: u8 });
        expect(seen.f).to.deep.equal({ dtype: 'F32', numpy: 'float32', shape: [1], values: [0.5] });
        expect(seen.d).to.deep.equal({ dtype: 'F64', numpy: 'float64', shape: [3], values: [Math.E, 2, 3] });

        const q = parseSafetensors(fs.readFileSync(theirs)).tensors.get('q')!;
        expect(q.dtype).to.equal('U8');
        expect(q.shape).to.deep.equal([2, 2]);
        expectSameBytes(q.data, Uint8Array.from([3, 0, 255, 17]), 'q');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('every header the reference reader refuses, we refuse too; what it accepts, we read the same', function () {
      requirePython(this);
      const u8 = (offsets: string, shape = '[2]'): string => `{"t":{"dtype":"U8","shape":${shape},"data_offsets":${offsets}}}`;
      const headers: [string, number][] = [
        [u8('[0,2]'), 2],
        [' \n' + u8('[0,2]') + '\t ', 2],
        [u8('[0,1e2]', '[100]'), 100],
        [u8('[0,2.0]'), 2],
        [u8('[-0,2]'), 2],
        [u8('[0,2]', '[2.0]'), 2],
        [u8('[0,-2]'), 2],
        [u8('[0,3]'), 2],
        [u8('[0,2]'), 3],
        [u8('[1,3]'), 3],
        [u8('[0,2]', '[3]'), 2],
        ['{"t":{"dtype":"Q8","shape":[2],"data_offsets":[0,2]}}', 2],
        ['{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2],
        ['{"__metadata__":{"k":1}}', 0],
        ['{"__metadata__":null}', 0],
      ];
      const files = headers.map(([header, dataLength]) => assemble(header, Buffer.alloc(dataLength, 7)).toString('base64'));
      const script = `
import sys, json, base64
from safetensors.numpy import load
out = []
for b64 in json.load(sys.stdin):
    try:
        out.append({k: v.tolist() for k, v in load(base64.b64decode(b64)).items()})
    except Exception:
        out.append(None)
print(json.dumps(out))
`;
      const run = spawnSync(python, ['-c', script], { input: JSON.stringify(files), encoding: 'utf8' });
      expect(run.status, run.stderr).to.equal(0);
      const theirs = JSON.parse(run.stdout) as (Record<string, number[]> | null)[];
      headers.forEach(([header], i) => {
        const bytes = Buffer.from(files[i], 'base64');
        if (theirs[i] === null) {
          expect(parsesOrCorrupt(bytes), `${header}: the reference refuses it`).to.equal('corrupt');
        } else {
          const ours = Object.fromEntries([...parseSafetensors(bytes).tensors].map(([k, t]) => [k, Array.from(t.data)]));
          expect(ours, header).to.deep.equal(theirs[i]);
        }
      });
    });
  });
});
