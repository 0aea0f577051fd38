/**
 * What the training loop shows while it runs. Three modes:
 *
 *   'bar'   a cli-progress bar per epoch (loss, lr, grad norm, steps/s, ETA): for a terminal
 *   'log'   a plain line every `logEvery` steps: for log files, CI, a service's stdout
 *   'none'  nothing (the `quiet` option)
 *
 * 'auto' picks 'bar' when the output is a TTY and the epoch's length is known, 'log' otherwise.
 * Epoch summaries (train and validation loss, metrics) are printed in both 'bar' and 'log'.
 */
import { SingleBar } from 'cli-progress';

/** One optimizer step as the loop reports it (to `onStep` and to the progress display). */
export interface StepInfo {
  /** Optimizer steps taken, this one included (1-based). */
  globalStep: number;
  /** The epoch in progress (0-based). */
  epoch: number;
  /** The step's mean loss over its micro-batches. */
  loss: number;
  /** The lr this step used (param group 0). */
  lr: number;
  /** The global norm of the step's gradients, before clipping. */
  gradNorm: number;
  /** The gradients were non-finite and the step changed nothing. */
  skipped: boolean;
}

/** How progress is shown: a bar on a terminal else log lines ('auto'), always a bar, always lines, or nothing. */
export type ProgressMode = 'auto' | 'bar' | 'log' | 'none';

/**
 * Where progress is written: process.stdout, or any stream with write(). Declared structurally
 * so the public types need no @types/node.
 */
export interface TextOutput {
  /** Writes text as it is (lines end with a newline). */
  write(text: string): unknown;
  /** A bar is drawn only on a TTY (in mode 'auto'). */
  isTTY?: boolean;
}

export interface ProgressOptions {
  mode: ProgressMode;
  /** Log a line every this many optimizer steps (mode 'log'). */
  logEvery: number;
  /** The number of epochs of the run, for "epoch 3/20". */
  epochs: number;
  /** Where to write; default process.stdout. */
  stream?: TextOutput;
}


/** Short numbers for a status line: 4 significant digits, exponent form when small or large. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const abs = Math.abs(v);
  return abs >= 1e4 || abs < 1e-3 ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

export class ProgressReporter {
  private readonly stream: TextOutput;
  private readonly mode: ProgressMode;
  private readonly logEvery: number;
  private readonly epochs: number;
  private bar: SingleBar | null = null;
  private epochStartTime = 0;
  private stepsThisEpoch = 0;
  private lastLogTime = 0;
  private lastLogStep = 0;

  constructor(options: ProgressOptions) {
    this.stream = options.stream ?? process.stdout;
    this.mode = options.mode;
    this.logEvery = options.logEvery;
    this.epochs = options.epochs;
  }

  /** Starts an epoch of `steps` optimizer steps (null when unknown), `done` of them already taken (a resumed epoch). */
  epochStart(epoch: number, steps: number | null, done: number, globalStep: number): void {
    this.epochStartTime = performance.now();
    this.stepsThisEpoch = 0;
    this.lastLogTime = this.epochStartTime;
    this.lastLogStep = globalStep;
    const useBar = this.mode === 'bar' || (this.mode === 'auto' && this.stream.isTTY === true);
    if (!useBar || steps === null) return;
    this.bar = new SingleBar({
      // cli-progress writes with write() and, on a TTY, moves the cursor with the stream's own methods.
      stream: this.stream as NodeJS.WritableStream,
      format: `epoch ${epoch + 1}/${this.epochs} [{bar}] {value}/{total} | loss {loss} | lr {lr} | grad norm {gradNorm} | {rate} steps/s | ETA {eta_formatted}`,
      barsize: 24,
      hideCursor: true,
      etaBuffer: 20,
      // Written by us, not on a timer: a training loop that keeps the CPU busy would starve the timer.
      noTTYOutput: this.mode === 'bar',
      synchronousUpdate: true,
    });
    this.bar.start(steps, done, { loss: '-', lr: '-', gradNorm: '-', rate: '-' });
  }

  step(report: StepInfo): void {
    if (this.mode === 'none') return;
    this.stepsThisEpoch++;
    const now = performance.now();
    const rate = (this.stepsThisEpoch * 1000) / Math.max(1e-9, now - this.epochStartTime);
    const fields = {
      loss: formatNumber(report.loss) + (report.skipped ? ' (skipped)' : ''),
      lr: formatNumber(report.lr),
      gradNorm: formatNumber(report.gradNorm),
      rate: rate.toFixed(1),
    };
    if (this.bar) {
      this.bar.increment(1, fields);
      return;
    }
    if (report.globalStep % this.logEvery !== 0 && !report.skipped) return;
    const windowRate = ((report.globalStep - this.lastLogStep) * 1000) / Math.max(1e-9, now - this.lastLogTime);
    this.lastLogTime = now;
    this.lastLogStep = report.globalStep;
    this.line(
      `step ${report.globalStep} | epoch ${report.epoch + 1}/${this.epochs} | loss ${fields.loss} | lr ${fields.lr} | ` +
        `grad norm ${fields.gradNorm} | ${windowRate.toFixed(1)} steps/s`,
    );
  }

  /** Ends the epoch's bar (if any) and prints `summary`. */
  epochEnd(summary: string): void {
    this.closeBar();
    this.line(summary);
  }

  /** A line of its own (a checkpoint written, training stopped), below any bar. */
  message(text: string): void {
    this.closeBar();
    this.line(text);
  }

  close(): void {
    this.closeBar();
  }

  /** Seconds since the epoch started. */
  get epochSeconds(): number {
    return (performance.now() - this.epochStartTime) / 1000;
  }

  private closeBar(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
  }

  private line(text: string): void {
    if (this.mode !== 'none') this.stream.write(text + '\n');
  }
}
