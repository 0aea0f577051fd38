/**
 * `fusedoptim inspect` reads any safetensors file (issue 15): every dtype the format defines is
 * listed from the header (name, dtype, shape, bytes) with statistics decoded from the elements
 * (F16, BF16, F8, integers, BOOL), in files written here by hand; a run folder is listed file by
 * file, and the stale temporary file of an interrupted atomic write is ignored there, as it is by
 * `train`'s check for a run in the folder.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../lib/cli/main';
import { saveCheckpoint } from '../lib/train/checkpoint';
import { DTYPE_SIZES } from '../lib/train/safetensors';
import { elementReader } from '../lib/train/element_values';
import { parseNumbers } from '../lib/train/history';
import { captureIo } from './helpers/capture';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-inspect-'));
}

interface HandTensor {
  dtype: string;
  shape: number[];
  /** The little-endian bytes of the elements. */
  data: Buffer;
}

/** A safetensors file assembled byte by byte, as the format's description gives it. */
function safetensorsBytes(tensors: Record<string, HandTensor>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, ...Object.values(tensors).map((t) => t.data)]);
}

const u16 = (...bits: number[]) => Buffer.from(Uint16Array.from(bits).buffer);
const i64 = (...values: bigint[]) => Buffer.from(BigInt64Array.from(values).buffer);

const HAND_TENSORS: Record<string, HandTensor> = {
  // 1, -2, 0.5, +Infinity
  half: { dtype: 'F16', shape: [2, 2], data: u16(0x3c00, 0xc000, 0x3800, 0x7c00) },
  // 1.5, -3
  brain: { dtype: 'BF16', shape: [2], data: u16(0x3fc0, 0xc040) },
  counts: { dtype: 'I64', shape: [3], data: i64(-5n, 7n, 2n ** 40n) },
  bytes: { dtype: 'U8', shape: [1, 2], data: Buffer.from([0, 255]) },
  // 1.0 (exponent 7, mantissa 0), 448 (the largest), NaN
  fp8: { dtype: 'F8_E4M3', shape: [3], data: Buffer.from([0x38, 0x7e, 0xff]) },
  flags: { dtype: 'BOOL', shape: [3], data: Buffer.from([0, 1, 1]) },
  ints: { dtype: 'I32', shape: [2], data: Buffer.from(Int32Array.of(-7, 9).buffer) },
};

describe('fusedoptim inspect: any safetensors file', () => {
  const dir = tempDir();
  const file = path.join(dir, 'mixed.safetensors');
  before(() => fs.writeFileSync(file, safetensorsBytes(HAND_TENSORS, { source: 'by hand' })));

  it('lists every tensor from the header, with bytes, and statistics decoded from F16, BF16, F8, integers and BOOL', async () => {
    const io = captureIo();
    expect(await main(['inspect', file, '--json'], io), io.err()).to.equal(0);
    const doc = parseNumbers(io.out()) as { checkpoint: boolean; metadata: Record<string, string>; tensors: Array<Record<string, unknown>> };
    expect(doc.checkpoint).to.equal(false);
    expect(doc.metadata).to.deep.equal({ source: 'by hand' });
    const byName = Object.fromEntries(doc.tensors.map((t) => [t.name, t]));
    expect(Object.keys(byName).sort()).to.deep.equal(Object.keys(HAND_TENSORS).sort());
    expect(byName.half).to.deep.include({ dtype: 'F16', shape: [2, 2], elements: 4, bytes: 8, min: -2, max: 1, nonFinite: 1 });
    expect(byName.half.mean).to.be.closeTo(-0.5 / 3, 1e-15);
    expect(byName.brain).to.deep.include({ dtype: 'BF16', elements: 2, bytes: 4, min: -3, max: 1.5, mean: -0.75 });
    expect(byName.counts).to.deep.include({ dtype: 'I64', bytes: 24, min: -5, max: 2 ** 40, nonFinite: 0 });
    expect(byName.bytes).to.deep.include({ dtype: 'U8', shape: [1, 2], min: 0, max: 255, mean: 127.5 });
    expect(byName.fp8).to.deep.include({ dtype: 'F8_E4M3', min: 1, max: 448, nonFinite: 1 });
    expect(byName.flags).to.deep.include({ dtype: 'BOOL', min: 0, max: 1 });
    expect(byName.ints).to.deep.include({ dtype: 'I32', min: -7, max: 9, mean: 1 });
  });

  it('prints the same as a table', async () => {
    const io = captureIo();
    expect(await main(['inspect', file], io), io.err()).to.equal(0);
    expect(io.out()).to.include('safetensors file (not a fusedoptim checkpoint)');
    expect(io.out()).to.include('metadata source: by hand');
    expect(io.out()).to.match(/^ {2}name +dtype +shape +elements +bytes +min +max +mean/m);
    expect(io.out()).to.match(/^ {2}half +F16 +\[2, 2\] +4 +8 +-2 +1 +-0\.16667 +1 non-finite$/m);
    expect(io.out()).to.match(/^ {2}counts +I64 +\[3\] +3 +24 +-5 +1099500000000 /m);
  });

  it("names a checkpoint's error-feedback residuals: their format and how many ranks'", async () => {
    const ck = path.join(dir, 'residuals.safetensors');
    const params = [new Float32Array(3), new Float32Array(1)];
    saveCheckpoint(ck, { model: { params }, errorFeedback: { compression: 'fp16', residuals: [params, params, params] } });
    const text = captureIo();
    expect(await main(['inspect', ck], text), text.err()).to.equal(0);
    expect(text.out()).to.include("residuals: error feedback's, fp16 rounding errors of 3 ranks (residual.<rank>.<param>)");
    expect(text.out()).to.match(/^ {2}residual\.2\.1 +F32 +\[1\] /m);
    const json = captureIo();
    expect(await main(['inspect', ck, '--json'], json), json.err()).to.equal(0);
    expect((JSON.parse(json.out()) as { metadata: { errorFeedback: unknown } }).metadata.errorFeedback).to.deep.equal({ compression: 'fp16', ranks: 3 });
  });

  it('a damaged header of any dtype is still refused with its code', async () => {
    const bad = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(bad, safetensorsBytes({ x: { dtype: 'I16', shape: [3], data: Buffer.alloc(4) } }));
    const io = captureIo();
    expect(await main(['inspect', bad], io)).to.equal(1);
    expect(io.err()).to.match(/shape \[3\] of I16 needs 6 bytes.*\[ERR_CHECKPOINT_CORRUPT\]/);
  });

  it('decodes every dtype the format defines', () => {
    for (const dtype of Object.keys(DTYPE_SIZES)) expect(() => elementReader(dtype), dtype).to.not.throw();
    const view = (bytes: number[]) => new DataView(Uint8Array.from(bytes).buffer);
    // Subnormals and the extremes, by hand: 2^-24 (F16), 2^-9 (F8_E4M3), -2^-16 (F8_E5M2), -Infinity (F8_E5M2).
    expect(elementReader('F16')(view([0x01, 0x00]), 0)).to.equal(2 ** -24);
    expect(elementReader('F16')(view([0xff, 0x7b]), 0)).to.equal(65504);
    expect(elementReader('F8_E4M3')(view([0x01]), 0)).to.equal(2 ** -9);
    expect(elementReader('F8_E5M2')(view([0x81]), 0)).to.equal(-(2 ** -16));
    expect(elementReader('F8_E5M2')(view([0xfc]), 0)).to.equal(-Infinity);
    expect(elementReader('U64')(view([0, 0, 0, 0, 0, 0, 0, 0x80]), 0)).to.equal(2 ** 63);
  });
});

describe('a run folder with a stale temporary file', () => {
  const runsDir = tempDir();
  const runDir = path.join(runsDir, 'crashed');
  // What a save killed between creating its temporary file and renaming it leaves (atomic.ts names it so).
  const stale = '.last.safetensors.4242.0123456789ab.tmp';

  it('holds no run for train, which starts there without --force', async () => {
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(path.join(runDir, stale), 'half a checkpoint');
    const io = captureIo();
    expect(await main(['train', '--name', 'crashed', '--runs-dir', runsDir, '--epochs', '1', '--quiet'], io), io.err()).to.equal(0);
  });

  it('inspect lists the folder file by file and ignores the temporary file', async () => {
    const io = captureIo();
    expect(await main(['inspect', runDir], io), io.err()).to.equal(0);
    expect(io.out()).to.match(/best\.safetensors: fusedoptim checkpoint/);
    expect(io.out()).to.match(/last\.safetensors: fusedoptim checkpoint/);
    expect(io.out()).to.not.include('.tmp');
    const json = captureIo();
    expect(await main(['inspect', runDir, '--json'], json), json.err()).to.equal(0);
    const doc = parseNumbers(json.out()) as { folder: string; files: Array<{ file: string; checkpoint: boolean }> };
    expect(doc.files.map((f) => path.basename(f.file))).to.deep.equal(['best.safetensors', 'last.safetensors']);
    expect(doc.files.every((f) => f.checkpoint)).to.equal(true);
  });
});

// Issue 24: `inspect` of a run folder stopped at a damaged file and said nothing of the good one.
describe('a run folder with a damaged file', () => {
  const runsDir = tempDir();
  const runDir = path.join(runsDir, 'hurt');

  it('inspect reports every file, marks the damaged one with its error, and exits 1', async () => {
    expect(await main(['train', '--name', 'hurt', '--runs-dir', runsDir, '--epochs', '1', '--hidden', '8', '--quiet'], captureIo())).to.equal(0);
    const last = path.join(runDir, 'last.safetensors');
    const bytes = fs.readFileSync(last);
    fs.writeFileSync(last, bytes.subarray(0, bytes.length - 100));
    const io = captureIo();
    expect(await main(['inspect', runDir], io)).to.equal(1);
    expect(io.out()).to.match(/best\.safetensors: fusedoptim checkpoint, .* checksum ok/);
    expect(io.out()).to.match(/^.*last\.safetensors: DAMAGED: checkpoint ".*last\.safetensors": .*run past the end.* \[ERR_CHECKPOINT_CORRUPT\]$/m);
    expect(io.err()).to.equal('fusedoptim inspect: 1 of 2 files damaged: last.safetensors\n');
    const json = captureIo();
    expect(await main(['inspect', runDir, '--json'], json)).to.equal(1);
    const doc = parseNumbers(json.out()) as { files: Array<{ file: string; checkpoint?: boolean; damaged?: boolean; error?: { code: string } }> };
    expect(doc.files.map((f) => [path.basename(f.file), f.checkpoint ?? null, f.damaged ?? false])).to.deep.equal([
      ['best.safetensors', true, false],
      ['last.safetensors', null, true],
    ]);
    expect(doc.files[1].error!.code).to.equal('ERR_CHECKPOINT_CORRUPT');
  });
});
