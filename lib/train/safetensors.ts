/**
 * The safetensors file format, written and read without dependencies.
 *
 * Layout (https://github.com/huggingface/safetensors, "Format"):
 *
 *   [8 bytes]  N, the header length, an unsigned 64-bit little-endian integer
 *   [N bytes]  the header: UTF-8 JSON object
 *                { "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ...,
 *                  "__metadata__": { "<key>": "<string value>", ... } }        (optional)
 *              padded with spaces so that the data section starts on an 8-byte boundary
 *   [rest]     the data section: each tensor's elements, row-major, little-endian, at
 *              [begin, end) relative to the start of the data section; the tensors are
 *              contiguous, do not overlap and cover the data section exactly.
 *
 * Tensors of four dtypes are written and read: F32 (Float32Array), F64 (Float64Array), BF16 (the
 * raw 16-bit patterns, in a Uint16Array) and U8 (Uint8Array); see safetensorsDtypeOf.
 *
 * The reader treats the file as hostile: every number in the header is checked before it is
 * used, and every problem is reported as one ERR_CHECKPOINT_CORRUPT error naming what is wrong
 * and where. It never returns a view into the file: tensors are copied into fresh aligned
 * typed arrays, so a file's bytes may sit at any offset of any buffer.
 */
import { ErrorCodes, makeError } from '../errors';
import { StateArray, StateDType, engineView, stateDtypeOf } from '../tensor';
import { allocState } from '../alloc';
import { checkArray, checkBytes, checkNumber, checkObject, checkStateArray, describe } from '../validate';

/** Element sizes, in bytes, of every dtype the format defines. Only F32, F64, BF16 and U8 are decoded. */
export const DTYPE_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** The dtypes this library writes from and reads into typed arrays. */
export type SafetensorsDtype = 'F32' | 'F64' | 'BF16' | 'U8';

/** Each StateDType's safetensors dtype, and back: the one mapping the writer, the reader and the checkpoint checksum use. */
const SAFETENSORS_DTYPES: Readonly<Record<StateDType, SafetensorsDtype>> = { float32: 'F32', float64: 'F64', bfloat16: 'BF16', uint8: 'U8' };
const STATE_DTYPES_BY_NAME: Readonly<Record<SafetensorsDtype, StateDType>> = { F32: 'float32', F64: 'float64', BF16: 'bfloat16', U8: 'uint8' };

/**
 * The safetensors dtype a typed array is written as: Float32Array → F32, Float64Array → F64,
 * Uint16Array → BF16 (its elements are taken as bfloat16 bit patterns), Uint8Array → U8.
 * Throws ERR_INVALID_ARG_TYPE for anything else, naming the value `name`.
 */
export function safetensorsDtypeOf(data: StateArray, name = 'data'): SafetensorsDtype {
  const dtype = stateDtypeOf(data);
  if (dtype === null) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a Float32Array, Float64Array, Uint16Array (bfloat16) or Uint8Array, got ${describe(data)}`);
  }
  return SAFETENSORS_DTYPES[dtype];
}

/** The header may be at most this long (the limit of the reference implementation: it bounds JSON parsing). */
export const MAX_HEADER_BYTES = 100_000_000;

/** The reserved header key that holds the string-to-string metadata. */
const METADATA_KEY = '__metadata__';

/** The header is padded so the data section, and with it every F64 tensor, starts 8-byte aligned. */
const HEADER_ALIGNMENT = 8;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A tensor to write: its flat elements and the shape they have (product(shape) === data.length). */
export interface TensorToWrite {
  /** The dtype follows the typed array (safetensorsDtypeOf): a Uint16Array is written as BF16. */
  data: StateArray;
  shape: readonly number[];
}

/** A tensor read back: a fresh, aligned copy of its elements. */
export interface TensorRead {
  /** The element type the file gives it. */
  dtype: SafetensorsDtype;
  /** Its shape, as the file gives it ([] for a scalar). */
  shape: number[];
  /** Float32Array for F32, Float64Array for F64, Uint16Array (raw bfloat16 bits) for BF16, Uint8Array for U8. */
  data: StateArray;
}

export interface ParsedSafetensors {
  /** The `__metadata__` object ({} when absent). */
  metadata: Record<string, string>;
  /** The tensors in data-section order. */
  tensors: Map<string, TensorRead>;
}

/** A tensor of any dtype the format defines, as its header entry describes it, with its bytes. */
export interface RawTensor {
  name: string;
  /** One of the format's dtypes (the keys of DTYPE_SIZES). */
  dtype: string;
  shape: number[];
  /** Its little-endian elements: a view of the file's bytes, not a copy (so possibly unaligned). */
  bytes: Uint8Array;
}

/** A safetensors file of any dtypes, checked but not decoded (listSafetensors). */
export interface ListedSafetensors {
  metadata: Record<string, string>;
  /** The tensors in data-section order. */
  tensors: RawTensor[];
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/**
 * Encodes tensors and metadata as a safetensors file, returned as a list of chunks to be written
 * in order (e.g. by writeFileAtomic, which writes them with writev): the length prefix and header
 * in one small Buffer, then one Buffer per non-empty tensor.
 *
 * On little-endian hosts the tensor chunks are views of the tensors' own memory, not copies, so
 * a checkpoint of a large model costs no extra memory; the price is that the chunks must be
 * written before the tensors are next modified (an optimizer step in between would tear the file).
 *
 * Tensors are laid out by decreasing element size (F64, F32, BF16, U8), then in the order given, so
 * every tensor starts at an offset that is a multiple of its element size, as the reference
 * writer does.
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, TensorToWrite> | Readonly<Record<string, TensorToWrite>>,
  metadata: Readonly<Record<string, string>> = {},
  // Declared as Uint8Array (each chunk is a Buffer) so the public types need no @types/node.
): Uint8Array[] {
  const entries = tensorEntries(tensors);
  checkMetadataToWrite(metadata);

  const ordered = entries
    .map(([name, tensor], order) => ({ name, tensor, order }))
    .sort((a, b) => b.tensor.data.BYTES_PER_ELEMENT - a.tensor.data.BYTES_PER_ELEMENT || a.order - b.order);

  // The header is assembled as a list of pairs, not an object: an object would reorder
  // integer-like names and treat a tensor named "__proto__" as its prototype.
  const pairs: [string, unknown][] = [];
  if (Object.keys(metadata).length > 0) pairs.push([METADATA_KEY, metadata]);
  let offset = 0;
  for (const { name, tensor } of ordered) {
    const end = offset + tensor.data.byteLength;
    const dtype = safetensorsDtypeOf(tensor.data);
    pairs.push([name, { dtype, shape: [...tensor.shape], data_offsets: [offset, end] }]);
    offset = end;
  }
  const headerText = `{${pairs.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(',')}}`;

  const json = Buffer.from(headerText, 'utf8');
  const padding = (HEADER_ALIGNMENT - (json.length % HEADER_ALIGNMENT)) % HEADER_ALIGNMENT;
  if (json.length + padding > MAX_HEADER_BYTES) {
    // Readers, ours and the reference one, would refuse the file: fail now, not at load time.
    throw makeError(ErrorCodes.OUT_OF_RANGE, `tensors: the header would be ${json.length + padding} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers accept`);
  }
  const prefix = Buffer.alloc(8 + json.length + padding, 0x20); // 0x20: the spaces that pad the header
  prefix.writeBigUInt64LE(BigInt(json.length + padding), 0);
  json.copy(prefix, 8);

  const chunks: Buffer[] = [prefix];
  for (const { tensor } of ordered) {
    if (tensor.data.byteLength > 0) chunks.push(littleEndianBytes(tensor.data));
  }
  return chunks;
}

function tensorEntries(
  tensors: ReadonlyMap<string, TensorToWrite> | Readonly<Record<string, TensorToWrite>>,
): [string, TensorToWrite][] {
  const entries: [string, unknown][] =
    tensors instanceof Map ? [...tensors.entries()] : Object.entries(checkObject('tensors', tensors));
  return entries.map(([name, value]) => {
    const where = `tensors[${JSON.stringify(name)}]`;
    if (typeof name !== 'string') {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `tensors: expected string keys, got ${describe(name)}`);
    }
    if (name === METADATA_KEY) {
      throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${where}: the name ${METADATA_KEY} is reserved for metadata`);
    }
    const entry = checkObject(where, value);
    // An engine view (engineView): the header's offsets, the shape check and the bytes written
    // all follow the elements the tensor has, not an own `length` or `byteLength` that lies.
    const data = engineView(checkStateArray(`${where}.data`, entry.data));
    const shape = checkArray(`${where}.shape`, entry.shape).map((d, i) =>
      checkNumber(`${where}.shape[${i}]`, d, { integer: true, min: 0 }),
    );
    const elements = shape.reduce((a, b) => a * b, 1);
    if (elements !== data.length) {
      throw makeError(
        ErrorCodes.SHAPE_MISMATCH,
        `${where}: shape [${shape.join(', ')}] has ${elements} elements, but data has ${data.length}`,
      );
    }
    return [name, { data, shape }];
  });
}

function checkMetadataToWrite(metadata: unknown): void {
  for (const [key, value] of Object.entries(checkObject('metadata', metadata))) {
    if (typeof value !== 'string') {
      throw makeError(
        ErrorCodes.INVALID_ARG_TYPE,
        `metadata[${JSON.stringify(key)}]: expected a string (safetensors metadata is string to string), got ${describe(value)}`,
      );
    }
  }
}

/** The tensor's bytes in little-endian order: a view on little-endian hosts, a swapped copy elsewhere. */
function littleEndianBytes(data: StateArray): Buffer {
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return view;
  const copy = Buffer.from(view);
  reverseEachElement(copy, data.BYTES_PER_ELEMENT);
  return copy;
}

/** Converts between little- and big-endian in place (elements of 2, 4 or 8 bytes; 1-byte ones are left as they are). */
function reverseEachElement(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

function corrupt(message: string): Error {
  return makeError(ErrorCodes.CHECKPOINT_CORRUPT, `safetensors: ${message}`);
}

/** A header entry after its fields were checked, before the layout is. */
interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses a whole safetensors file. Checks everything the format requires, refusing every header
 * the reference (Rust) reader refuses (numbers such as `1e2` or `2.0` included), and that the
 * header has no duplicate keys, which JSON.parse would silently resolve to the last one; throws
 * ERR_CHECKPOINT_CORRUPT (a RangeError) naming the first problem found. Tensors of dtypes other
 * than F32, F64, BF16 and U8 are valid safetensors but are rejected with the same code: this
 * library cannot hold them, so such a file is not one of its checkpoints.
 */
export function parseSafetensors(file: Uint8Array): ParsedSafetensors {
  const { bytes, metadata, entries, dataStart } = readLayout(file, false);
  const tensors = new Map<string, TensorRead>();
  for (const entry of entries) {
    tensors.set(entry.name, {
      dtype: entry.dtype as SafetensorsDtype,
      shape: entry.shape,
      data: decode(entry, bytes.subarray(dataStart + entry.begin, dataStart + entry.end)),
    });
  }
  return { metadata, tensors };
}

/**
 * Checks a whole safetensors file as parseSafetensors does, but accepts every dtype the format
 * defines (I64, F16, F8_E4M3, ...) and decodes nothing: for tools that list any file (inspect).
 */
export function listSafetensors(file: Uint8Array): ListedSafetensors {
  const { bytes, metadata, entries, dataStart } = readLayout(file, true);
  const tensors = entries.map(({ name, dtype, shape, begin, end }) => ({ name, dtype, shape, bytes: bytes.subarray(dataStart + begin, dataStart + end) }));
  return { metadata, tensors };
}

/** The checked file bytes (checkBytes), header and layout: metadata, and the tensor entries in data-section order. */
function readLayout(file: Uint8Array, anyDtype: boolean): { bytes: Uint8Array; metadata: Record<string, string>; entries: TensorEntry[]; dataStart: number } {
  const bytes = checkBytes('bytes', file);
  const { header, syntax, dataStart } = readHeader(bytes);
  const dataLength = bytes.length - dataStart;

  let metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = checkMetadataRead(value);
    else entries.push(checkEntry(name, value, dataLength, anyDtype));
  }
  checkLayout(entries, dataLength);
  // Last, so that a number the checks above refuse is named with its tensor and field.
  if (syntax.nonPlainNumber !== null) {
    throw corrupt(`header has the number ${syntax.nonPlainNumber}: every number of a header is a dimension or an offset, written as a plain non-negative integer`);
  }
  return { bytes, metadata, entries, dataStart };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function readHeader(bytes: Uint8Array): { header: Record<string, unknown>; syntax: SyntaxFindings; dataStart: number } {
  if (bytes.length < 8) {
    throw corrupt(`file is ${bytes.length} bytes long, shorter than the 8-byte header length (truncated?)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw corrupt(`header length ${declared} exceeds the limit of ${MAX_HEADER_BYTES} bytes (not a safetensors file?)`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.length) {
    throw corrupt(`header length ${headerLength} runs past the end of the ${bytes.length}-byte file (truncated?)`);
  }

  let text: string;
  try {
    text = strictUtf8.decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    throw corrupt('header (bytes 8..' + (8 + headerLength) + ') is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw corrupt(`header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw corrupt(`header must be a JSON object, got ${describe(header)}`);
  }
  const syntax = scanHeaderSyntax(text);
  if (syntax.duplicateKey !== null) throw corrupt(`header has the key ${JSON.stringify(syntax.duplicateKey)} twice`);
  return { header: header as Record<string, unknown>, syntax, dataStart: 8 + headerLength };
}

/** What a header's JSON text contains that JSON.parse accepts but a safetensors header may not. */
interface SyntaxFindings {
  /** The first key that appears twice in one object (JSON.parse silently keeps the last), or null. */
  duplicateKey: string | null;
  /**
   * The first number not written as a plain non-negative integer, or null. Every number of a
   * valid header is a dimension or an offset, and the reference (Rust, serde) reader takes them
   * as usize, which refuses `1e2`, `2.0` and `-0` although JSON.parse makes integers of them.
   */
  nonPlainNumber: string | null;
}

/**
 * Scans a header's JSON text for what JSON.parse hides (SyntaxFindings). The text must already
 * be valid JSON, so tracking strings and nesting is enough: a string followed by `:` is a key of
 * the innermost open object. Keys are compared after unescaping ("a" and "\u0061" are the same
 * key). Iterative, so deep nesting cannot overflow.
 */
function scanHeaderSyntax(json: string): SyntaxFindings {
  const found: SyntaxFindings = { duplicateKey: null, nonPlainNumber: null };
  const stack: (Set<string> | null)[] = []; // a Set of keys per open object, null per open array
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x7b /* { */) stack.push(new Set());
    else if (c === 0x5b /* [ */) stack.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x22 /* " */) {
      let end = i + 1;
      while (json.charCodeAt(end) !== 0x22) end += json.charCodeAt(end) === 0x5c /* \ */ ? 2 : 1;
      let next = end + 1;
      while (next < json.length && /\s/.test(json[next])) next++;
      const keys = stack[stack.length - 1];
      if (json[next] === ':' && keys) {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (keys.has(key) && found.duplicateKey === null) found.duplicateKey = key;
        keys.add(key);
      }
      i = end;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39) /* 0-9 */) {
      NUMBER_TOKEN.lastIndex = i;
      const token = NUMBER_TOKEN.exec(json)![0];
      if (!PLAIN_INTEGER.test(token) && found.nonPlainNumber === null) found.nonPlainNumber = token;
      i += token.length - 1;
    }
  }
  return found;
}

/** A JSON number token, read from a given position (sticky). */
const NUMBER_TOKEN = /-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

/** A JSON number the reference reader takes as a usize: digits only, no sign, fraction or exponent. */
const PLAIN_INTEGER = /^(0|[1-9][0-9]*)$/;

function checkMetadataRead(value: unknown): Record<string, string> {
  // The reference reader accepts `"__metadata__": null` as "no metadata"; so do we.
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw corrupt(`${METADATA_KEY} must be an object of strings, got ${describe(value)}`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [key, v] of entries) {
    if (typeof v !== 'string') {
      throw corrupt(`${METADATA_KEY}[${JSON.stringify(key)}] must be a string, got ${describe(v)}`);
    }
  }
  // fromEntries defines own properties, so even a key named "__proto__" is kept as data.
  return Object.fromEntries(entries) as Record<string, string>;
}

const ENTRY_FIELDS = ['dtype', 'shape', 'data_offsets'];

function checkEntry(name: string, value: unknown, dataLength: number, anyDtype: boolean): TensorEntry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw corrupt(`${where}: expected an object with dtype, shape and data_offsets, got ${describe(value)}`);
  }
  const fields = value as Record<string, unknown>;
  for (const field of ENTRY_FIELDS) {
    if (!Object.hasOwn(fields, field)) throw corrupt(`${where}: missing "${field}"`);
  }
  for (const field of Object.keys(fields)) {
    if (!ENTRY_FIELDS.includes(field)) throw corrupt(`${where}: unknown field ${JSON.stringify(field)}`);
  }

  const { dtype, shape, data_offsets: offsets } = fields;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZES, dtype)) {
    throw corrupt(`${where}: unknown dtype ${describe(dtype)} (expected one of ${Object.keys(DTYPE_SIZES).join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw corrupt(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw corrupt(`${where}: data_offsets must be [begin, end], two non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw corrupt(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength) {
    throw corrupt(`${where}: data_offsets [${begin}, ${end}] run past the end of the ${dataLength}-byte data section (truncated?)`);
  }

  // The product is checked against the byte range, so it cannot be large unless the range is;
  // an absurd shape overflows to a non-safe number and fails the comparison below.
  const elements = shape.reduce((a: number, b: number) => a * b, 1);
  const expected = elements * DTYPE_SIZES[dtype];
  if (!Number.isSafeInteger(expected) || expected !== end - begin) {
    throw corrupt(
      `${where}: shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  if (!anyDtype && !Object.hasOwn(STATE_DTYPES_BY_NAME, dtype)) {
    throw corrupt(`${where}: dtype ${dtype} is valid safetensors but not supported here (fusedoptim reads F32, F64, BF16 and U8)`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The tensors must tile the data section: sorted by offset, each begins where the previous one
 * ended and the last ends at the end of the file. (Empty tensors occupy no bytes and may share
 * an offset with their neighbours.) Sorts `entries` into data order.
 */
function checkLayout(entries: TensorEntry[], dataLength: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: TensorEntry | null = null;
  for (const entry of entries) {
    if (entry.begin > covered) {
      throw corrupt(`bytes [${covered}, ${entry.begin}) of the data section belong to no tensor (before ${JSON.stringify(entry.name)})`);
    }
    if (entry.begin < covered && previous) {
      throw corrupt(
        `tensor ${JSON.stringify(entry.name)} [${entry.begin}, ${entry.end}] overlaps tensor ${JSON.stringify(previous.name)} [${previous.begin}, ${previous.end}]`,
      );
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== dataLength) {
    throw corrupt(`${dataLength - covered} trailing bytes after the last tensor (data section is ${dataLength} bytes, tensors cover ${covered})`);
  }
}

/** Copies little-endian elements from anywhere in the file into a fresh aligned typed array. */
function decode(entry: TensorEntry, source: Uint8Array): StateArray {
  const itemSize = DTYPE_SIZES[entry.dtype];
  const elements = source.length / itemSize;
  const target = allocState(STATE_DTYPES_BY_NAME[entry.dtype as SafetensorsDtype], elements);
  // A byte copy does not care how the source is aligned; typed-array views of the file would.
  const targetBytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
  targetBytes.set(source);
  if (!HOST_IS_LITTLE_ENDIAN && itemSize > 1) reverseEachElement(targetBytes, itemSize);
  return target;
}
