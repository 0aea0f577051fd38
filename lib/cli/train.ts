/**
 * `fusedoptim train` (`npm start`): the digits job of lib/cli/jobs/digits/job.ts, with signal handling.
 *
 * Ctrl-C (SIGINT) and SIGTERM (a container stop, a systemd restart) both stop the run after the
 * current step, write last.safetensors, print the command that resumes it, and exit with 128 + the
 * signal's number (130, 143); a second signal quits at once.
 *
 * With --distributed under mpirun, which turns Ctrl-C into SIGTERM to every rank: the ranks agree
 * after every step whether any of them was told to stop (the loop's agreeStop), so they stop at
 * the same step; rank 0 writes last.safetensors and prints the command once; every rank finalizes
 * MPI (no MPI_Abort) and exits 143. mpirun kills ranks that are still running a grace period
 * after its SIGTERM (lib/distributed/launcher.ts): the opening lines say when it is too short.
 * A rank that finds another gone (ERR_RANK_LOST) ends with the error, which names the command
 * that resumes from the last checkpoint.
 */
import { constants } from 'os';
import * as path from 'path';
import type { DigitsConfig } from './jobs/digits/job';
import { ErrorCodes, isFusedOptimError, makeError } from '../errors';
import { STATE_DTYPE_OPTIONS } from '../compact/state_storage';
import { MAX_THREADS, setNumThreads } from '../threads';
import { GRACE_PARAMETER, STOP_GRACE_SECONDS, killGraceSeconds } from '../distributed/launcher';
import { COMPRESSION_NAMES } from '../distributed/collectives';
import { UsageError } from './args';
import { DIGITS_OPTIMIZERS, checkOptimizerName } from './jobs/digits/optimizer';
import { CliIo, Command } from './io';

/** Where --resume-from continues a run: its last checkpoint, or its best. */
const RESUME_POINTS = ['last', 'best'] as const;
type ResumePoint = (typeof RESUME_POINTS)[number];

export const trainCommand: Command = {
  spec: {
    usage: 'fusedoptim train',
    description:
      'Trains an MLP on the 8x8 handwritten digits with AdamW (or --optimizer), warmup-cosine (none for\n' +
      'Schedule-Free, which needs none) and clipping, and writes runs/<name>/{best,last}.safetensors,\n' +
      'history.json and history.svg. A folder that holds a run\n' +
      'is refused unless --resume continues it or --force starts over. Ctrl-C or SIGTERM stops after\n' +
      'the current step and writes last.safetensors; --resume continues from it with the settings\n' +
      'stored there (--checkpoint-every included; --max-steps, --threads and display flags are per session).\n' +
      'If last.safetensors is damaged, --resume refuses (it overwrites nothing) and says whether\n' +
      'best.safetensors is intact; --resume-from best then continues from the best epoch and keeps the\n' +
      'damaged file as last.safetensors.damaged. The opening lines give the optimizer state\'s size.',
    moreExitStatus: ['130 / 143 stopped by Ctrl-C / SIGTERM, after writing last.safetensors (every rank of --distributed: 143, mpirun then exits 1)'],
    flags: [
      { name: 'name', kind: 'string', placeholder: 'name', help: 'run folder name', defaultText: 'digits' },
      { name: 'runs-dir', kind: 'string', placeholder: 'dir', help: 'folder of run folders', defaultText: 'runs' },
      { name: 'resume', kind: 'boolean', help: 'continue the run in runs/<name> from last.safetensors' },
      { name: 'resume-from', kind: 'string', choices: RESUME_POINTS, help: 'continue the run from last.safetensors or from best.safetensors' },
      { name: 'force', kind: 'boolean', help: 'delete the run in runs/<name>, if any, and start over' },
      { name: 'epochs', kind: 'integer', range: { min: 1 }, placeholder: 'n', help: 'epochs', defaultText: '20' },
      { name: 'seed', kind: 'integer', range: { min: 0, max: 2 ** 32 - 1 }, placeholder: 'n', help: 'seeds initialisation, split and batch order', defaultText: '0' },
      { name: 'batch-size', kind: 'integer', range: { min: 1 }, placeholder: 'n', help: 'examples per step', defaultText: '32' },
      { name: 'hidden', kind: 'string', placeholder: 'w1,w2,..', help: 'hidden layer widths', defaultText: '128,64' },
      { name: 'lr', kind: 'number', range: { min: 0, minExclusive: true }, placeholder: 'x', help: 'peak learning rate', defaultText: '0.003' },
      { name: 'weight-decay', kind: 'number', range: { min: 0 }, placeholder: 'x', help: 'weight decay (where the optimizer takes one)', defaultText: '0.01' },
      { name: 'warmup-steps', kind: 'integer', range: { min: 0 }, placeholder: 'n', help: 'linear warmup steps', defaultText: '45' },
      { name: 'min-lr', kind: 'number', range: { min: 0 }, placeholder: 'x', help: 'lr at the end of the cosine', defaultText: '1e-5' },
      { name: 'max-grad-norm', kind: 'number', range: { min: 0, minExclusive: true }, placeholder: 'x', help: 'clip the global gradient norm to this', defaultText: '1' },
      { name: 'optimizer', kind: 'string', placeholder: 'name', help: `the optimizer: ${DIGITS_OPTIMIZERS.join(', ')} (any case)`, defaultText: 'AdamW' },
      { name: 'state-dtype', kind: 'string', choices: STATE_DTYPE_OPTIONS, help: 'how the optimizer stores its moments', defaultText: 'float32' },
      { name: 'max-steps', kind: 'integer', range: { min: 1 }, placeholder: 'n', help: 'stop after n optimizer steps in all (resumable)' },
      { name: 'checkpoint-every', kind: 'integer', range: { min: 1 }, placeholder: 'n', help: 'also write last.safetensors every n steps' },
      { name: 'threads', kind: 'integer', range: { min: 1, max: MAX_THREADS }, placeholder: 'n', help: 'threads of the optimizer kernels', defaultText: 'all cores' },
      { name: 'progress', kind: 'string', choices: ['auto', 'bar', 'log', 'none'], help: 'progress display', defaultText: 'auto' },
      { name: 'quiet', kind: 'boolean', help: 'print nothing but errors' },
      { name: 'distributed', kind: 'boolean', help: 'data-parallel on MPI: run under mpirun -np N (rank 0 prints and writes)' },
      { name: 'shard-state', kind: 'boolean', help: 'with --distributed: each rank keeps 1/N of the optimizer state (ZeRO-1)' },
      {
        name: 'compression',
        kind: 'string',
        choices: COMPRESSION_NAMES,
        help: 'with --distributed: send the gradients in 16 bits, summed in float32 (kept by the run)',
        defaultText: 'none',
      },
      { name: 'error-feedback', kind: 'boolean', help: "with --compression: carry each rank's rounding error into its next step (kept by the run)" },
    ],
  },

  async run(flags, _positionals, io: CliIo): Promise<number> {
    // Loaded here, not at the top: `fusedoptim inspect` and `--help` need neither the model nor the data.
    const { runDigitsJob, runDirOf, isRunName, MAX_HIDDEN_WIDTH } = await import('./jobs/digits/job');
    const config: Partial<DigitsConfig> = {};
    const set = <K extends keyof DigitsConfig>(key: K, flag: string) => {
      if (flags[flag] !== undefined) config[key] = flags[flag] as DigitsConfig[K];
    };
    set('epochs', 'epochs');
    set('seed', 'seed');
    set('batchSize', 'batch-size');
    set('peakLr', 'lr');
    set('weightDecay', 'weight-decay');
    set('warmupSteps', 'warmup-steps');
    set('minLr', 'min-lr');
    set('maxGradNorm', 'max-grad-norm');
    set('stateDtype', 'state-dtype');
    set('compression', 'compression');
    if (flags['error-feedback'] === true) config.errorFeedback = true;
    if (flags.optimizer !== undefined) {
      try {
        config.optimizer = checkOptimizerName('--optimizer', flags.optimizer);
      } catch (err) {
        throw new UsageError((err as Error).message.replace('--optimizer: expected', '--optimizer must be'));
      }
    }
    if (flags.hidden !== undefined) {
      const widths = String(flags.hidden).split(',').map(Number);
      if (!widths.every((w) => Number.isInteger(w) && w >= 1 && w <= MAX_HIDDEN_WIDTH)) {
        throw new UsageError(`--hidden must be layer widths in [1, ${MAX_HIDDEN_WIDTH}] like 128,64, got ${JSON.stringify(flags.hidden)}`);
      }
      config.hidden = widths;
    }
    const name = flags.name as string | undefined;
    if (name !== undefined && !isRunName(name)) throw new UsageError(`--name must be a folder name of letters, digits, '_', '-' and '.', got ${JSON.stringify(name)}`);
    const progress = (flags.progress ?? 'auto') as 'auto' | 'bar' | 'log' | 'none';
    if (flags['shard-state'] === true && flags.distributed !== true) throw new UsageError('--shard-state needs --distributed');
    if (flags.compression !== undefined && flags.distributed !== true) throw new UsageError('--compression needs --distributed');
    if (flags['error-feedback'] === true && (flags.compression === undefined || flags.compression === 'none')) {
      throw new UsageError('--error-feedback needs --compression bf16 or fp16 (the rounding it carries over)');
    }
    if (flags['shard-state'] === true && flags.compression !== undefined && flags.compression !== 'none') {
      throw new UsageError(`--compression ${flags.compression} and --shard-state exclude each other (--shard-state reduce-scatters the gradients uncompressed)`);
    }
    if (flags.resume === true && flags['resume-from'] !== undefined) throw new UsageError('--resume and --resume-from: give one (--resume is --resume-from last)');
    const resume = flags.resume === true ? 'last' : (flags['resume-from'] as ResumePoint | undefined);
    if (resume !== undefined && flags.force === true) {
      throw new UsageError(`--${flags.resume === true ? 'resume' : 'resume-from'} and --force exclude each other (one continues the run, the other deletes it and starts over)`);
    }
    if (flags.threads !== undefined) setNumThreads(flags.threads as number);
    // On several ranks, rank 0 alone speaks (the job does the same for its lines).
    const world = flags.distributed === true ? await import('../distributed') : null;
    world?.init();
    const speaks = (world?.rank() ?? 0) === 0;
    const grace = world === null ? null : killGraceSeconds();
    if (speaks && grace !== null && grace < STOP_GRACE_SECONDS && flags.quiet !== true) {
      io.stdout.write(
        `note: mpirun kills the ranks ${grace} s after it forwards Ctrl-C or SIGTERM to them, too soon for them to save and finalize ` +
          `(MPI_Finalize alone may take 2 s then); give them ${STOP_GRACE_SECONDS} s: mpirun --mca ${GRACE_PARAMETER} ${STOP_GRACE_SECONDS} ...\n`,
      );
    }

    // Ctrl-C or SIGTERM: stop after the current step and checkpoint; a second signal quits at once
    // (the handlers are gone, so the default action ends the process).
    const controller = new AbortController();
    const stop: { by: NodeJS.Signals | null } = { by: null };
    const onSignal = (signal: NodeJS.Signals) => {
      stop.by = signal;
      if (speaks) io.stderr.write(`\n${signal}: stopping after the current step${world ? ' on every rank' : ''} (send it again to quit now)...\n`);
      controller.abort();
      removeHandlers();
    };
    const removeHandlers = () => STOP_SIGNALS.forEach((signal) => process.off(signal, onSignal));
    STOP_SIGNALS.forEach((signal) => process.on(signal, onSignal));
    try {
      const job = await runDigitsJob({
        name,
        runsDir: flags['runs-dir'] as string | undefined,
        resume: resume ?? false,
        force: flags.force === true,
        config,
        ...(flags['max-steps'] !== undefined && { maxSteps: flags['max-steps'] as number }),
        ...(flags['checkpoint-every'] !== undefined && { checkpointEvery: flags['checkpoint-every'] as number }),
        signal: controller.signal,
        progress,
        quiet: flags.quiet === true,
        output: io.stdout,
        ...(flags.distributed === true && { distributed: { shardState: flags['shard-state'] === true } }),
      });
      // Stopped by a signal: on several ranks, by this rank's or another's (the ranks agreed on the step).
      if (job.result.stopReason === 'aborted') {
        if (speaks) io.stderr.write(`interrupted; continue with: ${resumeCommand(job.runDir)}\n`);
        // Every rank stopped at the same step and got here: MPI ends cleanly, and the exit handler aborts nothing.
        world?.finalize();
        return 128 + constants.signals[stop.by ?? 'SIGTERM'];
      }
      return 0;
    } catch (err) {
      // Another rank died: the run cannot go on, but what it wrote is intact; the message says how to go on.
      if (isFusedOptimError(err) && err.code === ErrorCodes.RANK_LOST) {
        const command = resumeCommand(runDirOf(flags['runs-dir'] as string | undefined, name ?? 'digits'));
        throw makeError(err.code, `${err.message} Continue with: ${command} (in one process, or under mpirun with --distributed)`);
      }
      throw err;
    } finally {
      removeHandlers();
    }
  },
};

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];


/**
 * The command that resumes the run in `runDir`, runnable from any directory: --runs-dir is given,
 * as an absolute path, unless it is the default runs/ of the working directory. --checkpoint-every
 * and the job's settings come back from the checkpoint.
 */
export function resumeCommand(runDir: string): string {
  const runsDir = path.dirname(runDir);
  const args = ['fusedoptim', 'train', '--resume', '--name', path.basename(runDir)];
  if (runsDir !== path.resolve('runs')) args.push('--runs-dir', runsDir);
  return args.map(shellQuote).join(' ');
}

/** An argument as a POSIX shell reads it back: bare when it is plain, else in single quotes. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
