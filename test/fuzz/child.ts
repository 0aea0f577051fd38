/**
 * A fuzz child process, started and watched by the runner (run.ts).
 *
 *   child.ts <seed> <start> <count> <deadline> [<stallAt>]
 *     runs cases `start`, `start + 1`, ... of `seed` until `count` cases ran or `deadline` (ms
 *     since the epoch) passed. Before each case it writes `case <index>` to stdout with a
 *     synchronous write, so if the process dies, or goes silent, the runner knows which case it
 *     was in; each problem is a `problem <json>` line, and the last line is
 *     `done <cases run> <returned> <refused>`. Case `stallAt` (the watchdog's own test) spins
 *     forever instead of running, blocking the thread as a native call that never returns would.
 *
 *   child.ts describe <seed> <index>
 *     writes the call case `index` makes (built, not called), for the runner's report.
 */
import * as fs from 'fs';
import { describeCase, runCase } from './cases';

async function runCases(seed: number, start: number, count: number, deadline: number, stallAt: number): Promise<void> {
  let returned = 0;
  let refused = 0;
  let i = start;
  for (; i < start + count && Date.now() < deadline; i++) {
    fs.writeSync(1, `case ${i}\n`);
    if (i === stallAt) for (;;);
    const result = await runCase(seed, i);
    if (result.problem) fs.writeSync(1, `problem ${JSON.stringify({ index: i, ...result })}\n`);
    if (result.outcome === 'returned') returned++;
    else refused++;
  }
  fs.writeSync(1, `done ${i - start} ${returned} ${refused}\n`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === 'describe') {
    const [seed, index] = args.slice(1).map(Number);
    fs.writeSync(1, `${describeCase(seed, index)}\n`);
  } else {
    const [seed, start, count, deadline, stallAt = -1] = args.map(Number);
    await runCases(seed, start, count, deadline, stallAt);
  }
  // Every case is judged: exit now, rather than wait for whatever a case left pending.
  process.exit(0);
}

main().catch((err) => {
  fs.writeSync(2, `fuzz child failed: ${(err as Error).stack}\n`);
  process.exit(2);
});
