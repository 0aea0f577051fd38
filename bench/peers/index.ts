/** bench --peers: the same workloads through PyTorch and TensorFlow.js, each skipped with a note when absent. */
import type { BenchOptions } from '../options';
import type { TimingRow } from '../results';
import { policyFor } from '../suite';
import { runTfjs } from './tfjs';
import { runTorch } from './torch';

export async function runPeers(
  opts: BenchOptions,
  suiteRows: readonly TimingRow[],
  log: (line: string) => void,
): Promise<{ rows: TimingRow[]; notes: string[] }> {
  const torch = runTorch(opts, suiteRows, log);
  const tfjs = await runTfjs(opts, policyFor(opts), log);
  for (const note of [...torch.notes, ...tfjs.notes]) log(note);
  return { rows: [...torch.rows, ...tfjs.rows], notes: [...torch.notes, ...tfjs.notes] };
}
