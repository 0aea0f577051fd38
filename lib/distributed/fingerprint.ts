/**
 * The fingerprint of a collective: what every rank must agree on before
 * buffers move (the sequence number, which collective, its op and root, the
 * tensor count, their element types and lengths). Exchanged by the addon
 * before every bucketed collective (native/mpi/fingerprint.cc); when the
 * ranks disagree, nothing is communicated and every rank, holding every
 * rank's record, throws the same ERR_COLLECTIVE_MISMATCH, naming what
 * differs and on which rank.
 *
 * A record is a Float64Array of integers below 2^32 (exact in a double):
 * lengths and element types enter as counts, totals and two 32-bit hashes
 * of the whole list, so the record's size does not grow with the tensor count.
 */
import { ErrorCodes, makeError } from '../errors';
import { StateArray, lengthOf, typedArrayTag } from '../tensor';
import { CollectiveKind, CompressionCode, ReduceOpCode } from './mpi_addon';

/** The fields of a record, in order, with how a mismatch of each is described. */
const FIELDS = [
  'sequence number',
  'collective',
  'op',
  'root',
  'deterministic',
  'tensor count',
  'float32 tensor count',
  'float32 elements',
  'float64 elements',
  'element types',
  'lengths',
  'lengths ',
  'uint16 elements',
  'uint8 elements',
  'compression',
  'gradient bucket',
] as const;

export const RECORD_LENGTH = FIELDS.length;

export const COLLECTIVE_NAMES: Readonly<Record<CollectiveKind, string>> = {
  [CollectiveKind.AllReduce]: 'allReduce',
  [CollectiveKind.Broadcast]: 'broadcast',
  [CollectiveKind.ReduceScatter]: 'reduceScatter',
  [CollectiveKind.AllGather]: 'allGather',
};

const OP_NAMES: Readonly<Record<ReduceOpCode, string>> = { [ReduceOpCode.Sum]: 'sum', [ReduceOpCode.Mean]: 'mean', [ReduceOpCode.Max]: 'max' };

const COMPRESSION_NAMES: Readonly<Record<CompressionCode, string>> = {
  [CompressionCode.None]: 'none',
  [CompressionCode.Bf16]: 'bf16',
  [CompressionCode.Fp16]: 'fp16',
};

/** FNV-1a over 32-bit words, as an unsigned integer (exact in a double). */
function mix(hash: number, word: number): number {
  for (let shift = 0; shift < 32; shift += 8) hash = Math.imul(hash ^ ((word >>> shift) & 0xff), 0x01000193);
  return hash;
}

export interface CollectiveCall {
  sequence: number;
  kind: CollectiveKind;
  op: ReduceOpCode;
  root: number;
  deterministic: boolean;
  tensors: readonly StateArray[];
  /** The 16-bit format the values travel in; default none. */
  compression?: CompressionCode;
  /** A gradient bucket's place in the flat gradients (./overlap.ts), which two ranks must agree on; default none. */
  bucket?: number;
}

/** Each element type's code in the hash of the element types. */
const TYPE_CODES: Readonly<Record<string, number>> = { Float32Array: 1, Float64Array: 2, Uint16Array: 3, Uint8Array: 4 };

/** This rank's record of a collective. */
export function fingerprintOf(call: CollectiveCall): Float64Array {
  let f32Count = 0;
  let f32Elements = 0;
  let f64Elements = 0;
  let u16Elements = 0;
  let u8Elements = 0;
  let types = 0x811c9dc5;
  let lengthsA = 0x811c9dc5;
  let lengthsB = 0x01000193;
  for (const t of call.tensors) {
    // The engine's type and length, which the addon moves: were an own `length` to lie alike on
    // two ranks whose tensors differ, the records would agree and MPI would be handed unequal counts.
    const code = TYPE_CODES[typedArrayTag(t)!];
    const length = lengthOf(t);
    if (code === 1) {
      f32Count++;
      f32Elements += length;
    } else if (code === 2) {
      f64Elements += length;
    } else if (code === 3) {
      u16Elements += length;
    } else {
      u8Elements += length;
    }
    types = mix(types, code);
    // Two hashes of the lengths (the second over the high half and a different seed): lengths up to 2^53.
    lengthsA = mix(lengthsA, length >>> 0);
    lengthsB = mix(lengthsB, Math.floor(length / 2 ** 32) ^ (length >>> 0) ^ 0x5bd1e995);
  }
  return Float64Array.of(
    call.sequence,
    call.kind,
    call.op,
    call.root,
    call.deterministic ? 1 : 0,
    call.tensors.length,
    f32Count,
    f32Elements,
    f64Elements,
    types >>> 0,
    lengthsA >>> 0,
    lengthsB >>> 0,
    u16Elements,
    u8Elements,
    call.compression ?? CompressionCode.None,
    call.bucket === undefined ? 0 : call.bucket + 1,
  );
}

function describeValue(field: number, value: number): string {
  switch (FIELDS[field]) {
    case 'sequence number':
      return `#${value}`;
    case 'collective':
      return COLLECTIVE_NAMES[value as CollectiveKind] ?? String(value);
    case 'op':
      return OP_NAMES[value as ReduceOpCode] ?? String(value);
    case 'deterministic':
      return value === 1 ? 'true' : 'false';
    case 'compression':
      return COMPRESSION_NAMES[value as CompressionCode] ?? String(value);
    case 'gradient bucket':
      return value === 0 ? 'none' : `#${value - 1}`;
    case 'element types':
    case 'lengths':
    case 'lengths ':
      return `hash ${value.toString(16).padStart(8, '0')}`;
    default:
      return String(value);
  }
}

/**
 * Throws ERR_COLLECTIVE_MISMATCH describing how `all` (every rank's record,
 * side by side) disagrees, from the point of view of rank `me`; the message
 * names each rank that differs from rank 0, the first field that differs, and
 * both values. Every rank gets the same records, so every rank throws, with the
 * same list of differences.
 */
export function throwMismatch(all: Float64Array, me: number, what: string): never {
  const ranks = all.length / RECORD_LENGTH;
  if (!Number.isInteger(ranks) || ranks < 1) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `fusedoptim/distributed: fingerprints: expected a multiple of ${RECORD_LENGTH} numbers, got ${all.length}`);
  }
  const differences: string[] = [];
  for (let r = 1; r < ranks; r++) {
    for (let f = 0; f < RECORD_LENGTH; f++) {
      const expected = all[f];
      const got = all[r * RECORD_LENGTH + f];
      if (!Object.is(expected, got)) {
        const field = FIELDS[f].trim();
        differences.push(`rank ${r} has ${field} ${describeValue(f, got)} where rank 0 has ${describeValue(f, expected)}`);
        break;
      }
    }
  }
  const sequence = all[me * RECORD_LENGTH] ?? all[0];
  throw makeError(
    ErrorCodes.COLLECTIVE_MISMATCH,
    `fusedoptim/distributed: ${what} (collective #${sequence} on rank ${me}): the ranks disagree, nothing was communicated: ` +
      `${differences.length > 0 ? differences.join('; ') : 'the records differ'}. Every rank must call the same collectives in the same order over tensors of the same count, element types and lengths.`,
  );
}
