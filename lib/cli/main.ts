/**
 * The `fusedoptim` command (bin/fusedoptim.js runs the compiled copy of this file):
 *
 *   fusedoptim train      the digits job (npm start)
 *   fusedoptim compare    the textbook's optimizer comparison (npm run compare)
 *   fusedoptim inspect    what a checkpoint holds
 *   fusedoptim bench      the benchmark (bench/main.ts)
 *
 * Exit status: 0 success, 1 an error while running (its message, with its code, on stderr), 2 a
 * usage mistake (the message names the flag: args.ts), 130 / 143 a training run stopped by
 * Ctrl-C / SIGTERM (after writing its checkpoint). Each command's --help says so (EXIT_STATUS).
 *
 * Under mpirun every rank parses the same arguments: the usage text, a usage mistake and --help
 * are printed by rank 0 alone (its rank read from the launcher's environment, before MPI starts),
 * and every rank ends with the same status.
 */
import * as path from 'path';
import { Writable } from 'stream';
import { isFusedOptimError } from '../errors';
import { EXIT_STATUS, UsageError, helpText, parseArgs } from './args';
import { compareCommand } from './compare';
import { inspectCommand } from './inspect';
import { CliIo, Command, ReportedByAnotherRank, processIo } from './io';
import { launcherRank } from '../distributed/launcher';
import { trainCommand } from './train';

const COMMANDS: Record<string, Command> = { train: trainCommand, compare: compareCommand, inspect: inspectCommand };

const USAGE = `usage: fusedoptim <command> [options]

commands:
  train              train an MLP on the handwritten digits (npm start)
  compare            the textbook's optimizer comparison and the schedule exercise (npm run compare)
  inspect <file>     print a checkpoint's (or any safetensors file's, or a run folder's) tensors and metadata
  bench              benchmark the fused kernels (npm run bench)

Run \`fusedoptim <command> --help\` for a command's options.

exit status:
${EXIT_STATUS.map((line) => `  ${line}\n`).join('')}  130 / 143 train stopped by Ctrl-C / SIGTERM, after writing last.safetensors
`;

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  // What every rank of `mpirun -np N` would print alike: rank 0 prints it, the others nothing.
  const usageIo = (launcherRank() ?? 0) === 0 ? io : SILENT;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? usageIo.stderr : usageIo.stdout).write(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === 'bench') return runBench(rest, io);
  const command = COMMANDS[name];
  if (!command) {
    usageIo.stderr.write(`fusedoptim: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
    return 2;
  }
  try {
    const args = parseArgs(command.spec, rest);
    if (args.help) {
      usageIo.stdout.write(helpText(command.spec));
      return 0;
    }
    return await command.run(args.flags, args.positionals, io);
  } catch (err) {
    if (err instanceof ReportedByAnotherRank) return 1;
    if (err instanceof UsageError) {
      usageIo.stderr.write(`fusedoptim ${name}: ${err.message}\nRun \`fusedoptim ${name} --help\` for its options.\n`);
      return 2;
    }
    const e = err as NodeJS.ErrnoException;
    if (isFusedOptimError(err) || (e && typeof e.code === 'string' && typeof e.syscall === 'string')) {
      // Expected failures (a corrupt checkpoint, a missing file, a bad setting) get one line, not a stack.
      io.stderr.write(`fusedoptim ${name}: ${e.message} [${e.code}]\n`);
      return 1;
    }
    throw err;
  }
}

/** Where the ranks other than 0 write what rank 0 prints for all of them: nowhere. */
const SILENT: CliIo = { stdout: new Writable({ write: (_chunk, _encoding, done) => done() }), stderr: new Writable({ write: (_chunk, _encoding, done) => done() }) };

/** `bench` lives in bench/main.ts (its own engineer and release cycle); it is loaded only when asked for. */
async function runBench(argv: string[], io: CliIo): Promise<number> {
  const entry = path.join(__dirname, '..', '..', 'bench', 'main');
  let bench: { runBench?: (argv: string[]) => Promise<number> };
  try {
    bench = require(entry);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(entry)) {
      io.stderr.write('fusedoptim bench: the benchmark is not part of this build (bench/main is missing)\n');
      return 1;
    }
    throw err;
  }
  if (typeof bench.runBench !== 'function') {
    io.stderr.write('fusedoptim bench: bench/main does not export runBench(argv)\n');
    return 1;
  }
  return bench.runBench(argv);
}
