/** `fusedoptim train` (`npm start`): the digits job of examples/digits/job.ts, with Ctrl-C handling. */
import type { DigitsConfig } from '../../examples/digits/job';
import { setNumThreads } from '../threads';
import { UsageError } from './args';
import { CliIo, Command } from './io';

export const trainCommand: Command = {
  spec: {
    usage: 'fusedoptim train',
    description:
      'Trains an MLP on the 8x8 handwritten digits with AdamW, warmup-cosine and clipping, and writes\n' +
      'runs/<name>/{best,last}.safetensors, history.json and history.svg. Ctrl-C stops after the\n' +
      'current step and writes last.safetensors; --resume continues from it.',
    flags: [
      { name: 'name', kind: 'string', placeholder: 'name', help: 'run folder name', defaultText: 'digits' },
      { name: 'runs-dir', kind: 'string', placeholder: 'dir', help: 'folder of run folders', defaultText: 'runs' },
      { name: 'resume', kind: 'boolean', help: 'continue the run in runs/<name> from last.safetensors' },
      { name: 'epochs', kind: 'integer', placeholder: 'n', help: 'epochs', defaultText: '20' },
      { name: 'seed', kind: 'integer', placeholder: 'n', help: 'seeds initialisation, split and batch order', defaultText: '0' },
      { name: 'batch-size', kind: 'integer', placeholder: 'n', help: 'examples per step', defaultText: '32' },
      { name: 'hidden', kind: 'string', placeholder: 'w1,w2,..', help: 'hidden layer widths', defaultText: '128,64' },
      { name: 'lr', kind: 'number', placeholder: 'x', help: 'peak learning rate', defaultText: '0.003' },
      { name: 'weight-decay', kind: 'number', placeholder: 'x', help: 'AdamW decoupled weight decay', defaultText: '0.01' },
      { name: 'warmup-steps', kind: 'integer', placeholder: 'n', help: 'linear warmup steps', defaultText: '45' },
      { name: 'min-lr', kind: 'number', placeholder: 'x', help: 'lr at the end of the cosine', defaultText: '1e-5' },
      { name: 'max-grad-norm', kind: 'number', placeholder: 'x', help: 'clip the global gradient norm to this', defaultText: '1' },
      { name: 'max-steps', kind: 'integer', placeholder: 'n', help: 'stop after n optimizer steps in all (resumable)' },
      { name: 'checkpoint-every', kind: 'integer', placeholder: 'n', help: 'also write last.safetensors every n steps' },
      { name: 'threads', kind: 'integer', placeholder: 'n', help: 'threads of the optimizer kernels', defaultText: 'all cores' },
      { name: 'progress', kind: 'string', placeholder: 'auto|bar|log|none', help: 'progress display', defaultText: 'auto' },
      { name: 'quiet', kind: 'boolean', help: 'print nothing but errors' },
      { name: 'distributed', kind: 'boolean', help: 'data-parallel on MPI: run under mpirun -np N (rank 0 prints and writes)' },
      { name: 'shard-state', kind: 'boolean', help: 'with --distributed: each rank keeps 1/N of the optimizer state (ZeRO-1)' },
    ],
  },

  async run(flags, _positionals, io: CliIo): Promise<number> {
    // Loaded here, not at the top: `fusedoptim inspect` and `--help` need neither the model nor the data.
    const { runDigitsJob } = await import('../../examples/digits/job');
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
    if (flags.hidden !== undefined) {
      const widths = String(flags.hidden).split(',').map(Number);
      if (!widths.every((w) => Number.isInteger(w) && w > 0)) throw new UsageError(`--hidden: expected widths like 128,64, got ${JSON.stringify(flags.hidden)}`);
      config.hidden = widths;
    }
    const progress = flags.progress ?? 'auto';
    if (!['auto', 'bar', 'log', 'none'].includes(String(progress))) throw new UsageError(`--progress: expected auto, bar, log or none, got ${JSON.stringify(progress)}`);
    if (flags.threads !== undefined) setNumThreads(flags.threads as number);
    if (flags['shard-state'] === true && flags.distributed !== true) throw new UsageError('--shard-state: needs --distributed');

    // Ctrl-C: stop after the current step and checkpoint; a second Ctrl-C quits at once.
    const controller = new AbortController();
    const onSigint = () => {
      io.stderr.write('\nstopping after the current step (Ctrl-C again to quit now)...\n');
      controller.abort();
      process.off('SIGINT', onSigint);
    };
    process.on('SIGINT', onSigint);
    try {
      const job = await runDigitsJob({
        name: flags.name as string | undefined,
        runsDir: flags['runs-dir'] as string | undefined,
        resume: flags.resume === true,
        config,
        ...(flags['max-steps'] !== undefined && { maxSteps: flags['max-steps'] as number }),
        ...(flags['checkpoint-every'] !== undefined && { checkpointEvery: flags['checkpoint-every'] as number }),
        signal: controller.signal,
        progress: progress as 'auto' | 'bar' | 'log' | 'none',
        quiet: flags.quiet === true,
        output: io.stdout,
        ...(flags.distributed === true && { distributed: { shardState: flags['shard-state'] === true } }),
      });
      if (job.result.stopReason === 'aborted') {
        io.stderr.write(`interrupted; continue with: fusedoptim train --resume --name ${JSON.stringify(job.runDir.split(/[\\/]/).pop())}\n`);
        return 130;
      }
      return 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
