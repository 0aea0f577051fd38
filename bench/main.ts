/**
 * `fusedoptim bench` (npm run bench; --peers for npm run bench:peers).
 * runBench parses its own flags, runs the suite, prints markdown on stdout
 * (progress on stderr) and writes the JSON result and the SVG chart
 * atomically. Returns the process exit code: 0, or 2 for a usage error.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomicSync } from '../lib/train/atomic';
import { runBusy } from './busy';
import { runCompact } from './compact';
import { machineInfo } from './machine';
import { runMemory } from './memory';
import { BenchOptions, USAGE, UsageError, parseArgs } from './options';
import { runOverhead } from './overhead';
import { runPeers } from './peers';
import { chartSvg, markdownReport } from './report';
import type { BenchResult } from './results';
import { policyFor, runSuite } from './suite';

/** Parameters of the memory measurement (one flat float32 tensor). */
const MEMORY_PARAMS = 1 << 20;

function writeOutputs(opts: BenchOptions, result: BenchResult, log: (line: string) => void): void {
  if (opts.json !== null) {
    fs.mkdirSync(path.dirname(opts.json), { recursive: true });
    writeFileAtomicSync(opts.json, JSON.stringify(result, null, 2) + '\n');
    log(`wrote ${opts.json}`);
  }
  if (opts.svg !== null) {
    fs.mkdirSync(path.dirname(opts.svg), { recursive: true });
    writeFileAtomicSync(opts.svg, chartSvg(result));
    log(`wrote ${opts.svg}`);
  }
}

export async function runBench(argv: string[]): Promise<number> {
  // The data-parallel figures have their own runner (it starts itself under mpirun).
  if (argv.includes('--mpi')) return (await import('./mpi')).runMpiBench(argv);
  let opts: BenchOptions;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`fusedoptim bench: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = opts.quiet ? () => undefined : (line: string) => process.stderr.write(`bench: ${line}\n`);
  const started = process.hrtime.bigint();
  const result: BenchResult = {
    schema: 'fusedoptim-bench/1',
    machine: machineInfo(),
    argv: [...argv],
    rows: [],
    overhead: [],
    memory: [],
    compact: [],
    busy: [],
    notes: [],
    durationSeconds: 0,
  };
  if (opts.sections.includes('suite')) result.rows.push(...runSuite(opts, log));
  if (opts.sections.includes('compact')) {
    const compact = runCompact(opts, log);
    result.compact = compact.rows;
    result.notes.push(...compact.notes);
  }
  if (opts.sections.includes('busy')) {
    const busy = await runBusy(opts, log);
    result.busy = busy.rows;
    result.notes.push(...busy.notes);
  }
  if (opts.extras) {
    log('per-call overhead');
    result.overhead = runOverhead(policyFor(opts));
    log('memory');
    result.memory = runMemory(opts.workloads, MEMORY_PARAMS, opts.memorySteps);
  }
  if (opts.peers) {
    const peers = await runPeers(opts, result.rows, log);
    result.rows.push(...peers.rows);
    result.notes.push(...peers.notes);
  }
  result.durationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (!opts.quiet) process.stdout.write(markdownReport(result) + '\n');
  writeOutputs(opts, result, log);
  return 0;
}
