/**
 * A fuzz child process: runs cases `start`, `start + 1`, ... of `seed` until `count` cases ran or
 * `deadline` (ms since the epoch) passed. Before each case it writes `case <index>` to stdout with
 * a synchronous write, so if the process dies the runner knows which case killed it; each problem
 * is a `problem <json>` line, and the last line is `done <cases run> <returned> <refused>`.
 */
import * as fs from 'fs';
import { runCase } from './cases';

async function main(): Promise<void> {
  const [seed, start, count, deadline] = process.argv.slice(2).map(Number);
  let returned = 0;
  let refused = 0;
  let i = start;
  for (; i < start + count && Date.now() < deadline; i++) {
    fs.writeSync(1, `case ${i}\n`);
    const result = await runCase(seed, i);
    if (result.problem) fs.writeSync(1, `problem ${JSON.stringify({ index: i, ...result })}\n`);
    if (result.outcome === 'returned') returned++;
    else refused++;
  }
  fs.writeSync(1, `done ${i - start} ${returned} ${refused}\n`);
}

main().catch((err) => {
  fs.writeSync(2, `fuzz child failed: ${(err as Error).stack}\n`);
  process.exit(2);
});
