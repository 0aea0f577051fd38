import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ErrorCodes } from '../lib/errors';
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
        expectBitIdentical(read.data, tensor.data, name);
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
    it('rejects data that is not a Float32Array or Float64Array', () => {
      typeOrRange(() => encodeSafetensors({ a: { data: [1, 2] as never, shape: [2] } }), ErrorCodes.INVALID_ARG_TYPE);
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
    });
  });

  describe('interoperability with Python safetensors', () => {
    const hasPythonSafetensors =
      spawnSync('python3', ['-c', 'import safetensors.numpy'], { encoding: 'utf8' }).status === 0;

    it('Python reads our file, and we read Python\'s', function () {
      if (!hasPythonSafetensors) {
        console.log('      (skipped: python3 with the safetensors package is not installed on this machine)');
        this.skip();
      }
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-st-'));
      try {
        const ours = path.join(dir, 'ours.safetensors');
        const theirs = path.join(dir, 'theirs.safetensors');
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
        const run = spawnSync('python3', ['-c', script, ours, theirs], { encoding: 'utf8' });
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
  });
});
