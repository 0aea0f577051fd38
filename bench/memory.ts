/**
 * Memory: what a step allocates and keeps (expected: nothing; the state is
 * allocated once, on the first step), and how many bytes of state each
 * optimizer holds per parameter. Read with a full garbage collection at both
 * ends, so that short-lived garbage (which a step should not make either, but
 * which would not be a leak) does not count.
 */
import * as v8 from 'v8';
import * as vm from 'vm';
import type { MemoryRow } from './results';
import { makeTensors } from './layouts';
import { WORKLOADS } from './workloads';

let collector: (() => void) | null = null;

/** A full GC, with --expose-gc switched on for this process if it was not. */
function collectGarbage(): void {
  if (!collector) {
    v8.setFlagsFromString('--expose-gc');
    collector = vm.runInNewContext('gc') as () => void;
  }
  collector();
  collector();
}

export function runMemory(workloadIds: readonly string[], params: number, steps: number): MemoryRow[] {
  const rows: MemoryRow[] = [];
  for (const workload of WORKLOADS.filter((w) => workloadIds.includes(w.id))) {
    const p = makeTensors('float32', [params], 1);
    const g = makeTensors('float32', [params], 2);
    const prepared = workload.prepare('native', p, g);
    prepared.step(); // allocates the state
    collectGarbage();
    const before = process.memoryUsage();
    for (let i = 0; i < steps; i++) prepared.step();
    collectGarbage();
    const after = process.memoryUsage();
    rows.push({
      workload: workload.id,
      label: workload.label,
      params,
      dtype: 'float32',
      steps,
      rssGrowth: after.rss - before.rss,
      externalGrowth: after.external - before.external,
      stateBytesPerParam: prepared.stateBytes() / params,
    });
  }
  return rows;
}
