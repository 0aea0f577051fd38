/**
 * Every error the library throws is a TypeError or a RangeError carrying a
 * stable `code`, so services can branch on `err.code` instead of parsing
 * messages. The codes are listed (and documented) in one place: here.
 */

export const ErrorCodes = {
  /** An argument has the wrong type (not a Float32Array, not a number, ...). */
  INVALID_ARG_TYPE: 'ERR_INVALID_ARG_TYPE',
  /** An argument has the right type but a value that is not allowed (an unknown option, a duplicate buffer, ...). */
  INVALID_ARG_VALUE: 'ERR_INVALID_ARG_VALUE',
  /** A number is outside its allowed range (lr < 0, betas outside [0, 1), ...). */
  OUT_OF_RANGE: 'ERR_OUT_OF_RANGE',
  /** Two buffers that must agree in length (or shape, or count) do not. */
  SHAPE_MISMATCH: 'ERR_SHAPE_MISMATCH',
  /** Two buffers that must share an element type do not. */
  DTYPE_MISMATCH: 'ERR_DTYPE_MISMATCH',
  /** A buffer whose ArrayBuffer was transferred or detached. */
  DETACHED_BUFFER: 'ERR_DETACHED_BUFFER',
  /** A value that must be finite is NaN or infinite (a gradient norm with errorIfNonfinite, a metric, ...). */
  NON_FINITE: 'ERR_NON_FINITE',
  /** An asynchronous step is still running on this optimizer (or an asynchronous collective, in fusedoptim/distributed). */
  STEP_IN_FLIGHT: 'ERR_STEP_IN_FLIGHT',
  /** A step of an optimizer that keeps a train and an eval mode (Schedule-Free) while it is in eval mode. */
  NOT_IN_TRAIN_MODE: 'ERR_NOT_IN_TRAIN_MODE',
  /** A state dict that does not fit the object it is loaded into. */
  STATE_DICT_MISMATCH: 'ERR_STATE_DICT_MISMATCH',
  /** A checkpoint file that is truncated, corrupted or not a checkpoint. */
  CHECKPOINT_CORRUPT: 'ERR_CHECKPOINT_CORRUPT',
  /** A well-formed checkpoint that does not match the live model, optimizer or scheduler. */
  CHECKPOINT_MISMATCH: 'ERR_CHECKPOINT_MISMATCH',
  /** The native addon could not be loaded (not built, or built for another Node). */
  ADDON_NOT_LOADED: 'ERR_ADDON_NOT_LOADED',
  /** fusedoptim/distributed: the MPI addon was not built (no MPI on the machine that built fusedoptim) or cannot load. */
  MPI_NOT_AVAILABLE: 'ERR_MPI_NOT_AVAILABLE',
  /** fusedoptim/distributed: a collective before init() or after finalize(). */
  MPI_NOT_INITIALIZED: 'ERR_MPI_NOT_INITIALIZED',
  /** fusedoptim/distributed: the ranks called different collectives (order, count, element types or lengths); thrown on every rank. */
  COLLECTIVE_MISMATCH: 'ERR_COLLECTIVE_MISMATCH',
  /** fusedoptim/distributed: a rank this one waited for in a collective is gone (its process died or was killed). */
  RANK_LOST: 'ERR_RANK_LOST',
} as const;

/** One of the codes of ErrorCodes. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Any error this library throws: a TypeError or RangeError with a stable `code`. */
export interface FusedOptimError extends Error {
  /** The stable code to branch on (docs/errors.md says what each means). */
  readonly code: ErrorCode;
}

/** A TypeError with a stable `code`. */
export class FusedOptimTypeError extends TypeError implements FusedOptimError {
  /** The stable code to branch on. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'TypeError';
  }
}

/** A RangeError with a stable `code`. */
export class FusedOptimRangeError extends RangeError implements FusedOptimError {
  /** The stable code to branch on. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'RangeError';
  }
}

/** Errors whose cause is the kind of value: wrong type, detached, wrong dtype. */
const TYPE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCodes.INVALID_ARG_TYPE,
  ErrorCodes.DTYPE_MISMATCH,
  ErrorCodes.DETACHED_BUFFER,
  ErrorCodes.ADDON_NOT_LOADED,
  ErrorCodes.MPI_NOT_AVAILABLE,
]);

/** Builds the error of the right class for a code: the one place that decides TypeError vs RangeError. */
export function makeError(code: ErrorCode, message: string): FusedOptimTypeError | FusedOptimRangeError {
  return TYPE_CODES.has(code) ? new FusedOptimTypeError(code, message) : new FusedOptimRangeError(code, message);
}

/** True for any error this library threw (it has one of our codes). */
export function isFusedOptimError(err: unknown): err is FusedOptimError {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (Object.values(ErrorCodes) as string[]).includes((err as unknown as { code: string }).code)
  );
}
