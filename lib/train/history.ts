/**
 * The training history: what the loop logs, per optimizer step where the
 * textbook logs per step (loss, lr, gradient norm) and per epoch for the rest
 * (mean train loss, validation loss and metrics). It is plain data: it goes
 * into every checkpoint (so a resumed run continues the same history) and into
 * a run folder's history.json.
 *
 * JSON has no NaN or Infinity, and a skipped step's loss and gradient norm are
 * exactly that, so the encoding writes non-finite numbers as the strings
 * "NaN", "Infinity" and "-Infinity" and reads them back. Finite numbers go
 * through JSON unchanged: JavaScript prints the shortest text that reads back
 * to the same double, so a history round-trips bit for bit.
 */
import { ErrorCodes, makeError } from '../errors';
import { describe } from '../validate';

/** What the training loop logged: per step, per epoch, and the skipped steps. */
export interface History {
  /** Per optimizer step: the mean loss of the step's batch (over its micro-batches when accumulating). */
  trainLoss: number[];
  /** Per optimizer step: the learning rate of param group 0 the step used. */
  learningRate: number[];
  /** Per optimizer step: the global norm of the step's (averaged) gradients, before clipping. */
  gradNorm: number[];
  /** The optimizer steps (1-based) whose gradients were non-finite and that changed nothing. */
  skippedSteps: number[];
  /** Per epoch: the mean train loss over the epoch's steps that were not skipped. */
  epochTrainLoss: number[];
  /** Per epoch: the validation loss (NaN when there is no validation data). */
  valLoss: number[];
  /** Per epoch: each extra validation metric (config.evaluate), by name. */
  valMetrics: Record<string, number[]>;
  /** Per epoch: the number of optimizer steps taken when the epoch ended, to draw per-epoch values against steps. */
  epochEndStep: number[];
}

export function emptyHistory(): History {
  return {
    trainLoss: [],
    learningRate: [],
    gradNorm: [],
    skippedSteps: [],
    epochTrainLoss: [],
    valLoss: [],
    valMetrics: {},
    epochEndStep: [],
  };
}

/** A deep copy (the loop hands copies to callbacks and results, so nobody edits its own). */
export function cloneHistory(history: History): History {
  const metrics = Object.fromEntries(Object.entries(history.valMetrics).map(([name, values]) => [name, values.slice()]));
  return {
    trainLoss: history.trainLoss.slice(),
    learningRate: history.learningRate.slice(),
    gradNorm: history.gradNorm.slice(),
    skippedSteps: history.skippedSteps.slice(),
    epochTrainLoss: history.epochTrainLoss.slice(),
    valLoss: history.valLoss.slice(),
    valMetrics: metrics,
    epochEndStep: history.epochEndStep.slice(),
  };
}

const NON_FINITE_NAMES: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/** JSON.stringify with NaN and ±Infinity written as strings, so they survive. */
export function stringifyNumbers(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), indent);
}

/** JSON.parse that turns the strings "NaN", "Infinity" and "-Infinity" back into numbers. */
export function parseNumbers(text: string): unknown {
  return JSON.parse(text, (_key, v) => (typeof v === 'string' && Object.hasOwn(NON_FINITE_NAMES, v) ? NON_FINITE_NAMES[v] : v));
}

/**
 * Checks that `value` (read from a file) is a History whose per-step arrays
 * have `steps` entries and whose per-epoch arrays have `epochs` entries.
 * Throws ERR_CHECKPOINT_CORRUPT naming the first problem.
 */
export function checkHistory(name: string, value: unknown, steps: number, epochs: number): History {
  const fail = (msg: string) => makeError(ErrorCodes.CHECKPOINT_CORRUPT, `${name}: ${msg}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(`expected an object, got ${describe(value)}`);
  const h = value as Record<string, unknown>;
  const expectedKeys = Object.keys(emptyHistory());
  for (const key of Object.keys(h)) if (!expectedKeys.includes(key)) throw fail(`unknown field ${JSON.stringify(key)}`);
  const numbers = (key: string, length: number | null, raw: unknown = h[key]): number[] => {
    if (!Array.isArray(raw) || !raw.every((v) => typeof v === 'number')) throw fail(`${key}: expected an array of numbers`);
    if (length !== null && raw.length !== length) throw fail(`${key}: expected ${length} entries, got ${raw.length}`);
    return raw.slice() as number[];
  };
  const skippedSteps = numbers('skippedSteps', null);
  skippedSteps.forEach((s, i) => {
    if (!Number.isInteger(s) || s < 1 || s > steps || (i > 0 && s <= skippedSteps[i - 1])) {
      throw fail(`skippedSteps[${i}]: expected increasing step numbers in [1, ${steps}], got ${s}`);
    }
  });
  const rawMetrics = h.valMetrics;
  if (typeof rawMetrics !== 'object' || rawMetrics === null || Array.isArray(rawMetrics)) {
    throw fail(`valMetrics: expected an object, got ${describe(rawMetrics)}`);
  }
  // fromEntries defines own properties: a metric named "__proto__" stays data.
  const valMetrics: Record<string, number[]> = Object.fromEntries(
    Object.entries(rawMetrics).map(([metric, values]) => [metric, numbers(`valMetrics.${metric}`, epochs, values)]),
  );
  const epochEndStep = numbers('epochEndStep', epochs);
  epochEndStep.forEach((s, i) => {
    if (!Number.isInteger(s) || s < 0 || s > steps || (i > 0 && s < epochEndStep[i - 1])) {
      throw fail(`epochEndStep[${i}]: expected non-decreasing step counts in [0, ${steps}], got ${s}`);
    }
  });
  return {
    trainLoss: numbers('trainLoss', steps),
    learningRate: numbers('learningRate', steps),
    gradNorm: numbers('gradNorm', steps),
    skippedSteps,
    epochTrainLoss: numbers('epochTrainLoss', epochs),
    valLoss: numbers('valLoss', epochs),
    valMetrics,
    epochEndStep,
  };
}
