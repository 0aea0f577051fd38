/**
 * The compact-state section: AdamW over one float32 tensor (16M params by
 * default) with float32, bfloat16 (rounded to nearest, and stochastically)
 * and 8-bit state, each at every thread count, interleaved with the
 * in-place bandwidth probe, on each instruction
 * set the CPU runs. The kernel table is chosen once, when the addon loads
 * (native/dispatch.cc, FUSEDOPTIM_ISA), so each instruction set is measured
 * in a child process of its own started with that variable; a child whose
 * addon chose another table (the CPU lacks the one asked for) is reported as
 * skipped. Everything goes through the public API: `new AdamW(params,
 * { stateDtype, stochasticRounding })`, so the section measures whichever
 * kernels the build has.
 */
import { spawnSync } from 'child_process';
import { addonInfo } from '../lib/info';
import { AdamW } from '../lib/optim/adam';
import type { StateStorageOptions } from '../lib/compact/state_storage';
import { setNumThreads } from '../lib/threads';
import { bytesPerParam } from './bytes';
import { makeTensors } from './layouts';
import { Member, RepPolicy, measureInterleaved } from './measure';
import type { BenchOptions } from './options';
import { makeProbe } from './probe';
import type { CompactRow } from './results';
import { summarize } from './stats';
import { policyFor } from './suite';

export const COMPACT_ISAS = ['avx512', 'avx2', 'baseline'] as const;
export const COMPACT_STATES: ReadonlyArray<CompactRow['state']> = ['float32', 'bfloat16', 'bfloat16-sr', 'int8'];

/** AdamW moves what Adam moves (the decay reads nothing more): bytes.ts's rows for Adam's state kinds. */
const BYTES_WORKLOAD: Readonly<Record<CompactRow['state'], string>> = {
  float32: 'adamw',
  bfloat16: 'adam-bf16',
  'bfloat16-sr': 'adam-bf16-sr',
  int8: 'adam-int8',
};

/** The AdamW options of each state kind ('bfloat16-sr': bfloat16 rounded stochastically). */
const STORAGE: Readonly<Record<CompactRow['state'], Partial<StateStorageOptions>>> = {
  float32: { stateDtype: 'float32' },
  bfloat16: { stateDtype: 'bfloat16' },
  'bfloat16-sr': { stateDtype: 'bfloat16', stochasticRounding: true },
  int8: { stateDtype: 'int8' },
};

interface ChildConfig {
  params: number;
  threads: number[];
  policy: RepPolicy;
}

/** Measures the section in this process, on the kernel table the addon chose. */
export function measureCompact(config: ChildConfig): CompactRow[] {
  const lengths = [config.params];
  const params = makeTensors('float32', lengths, 1);
  const grads = makeTensors('float32', lengths, 2);
  const probe = makeProbe(makeTensors('float32', lengths, 3), grads);
  // The three optimizers share the params (as the main suite's workloads do): the values drift, the work does not.
  const steps = COMPACT_STATES.map((state) => {
    const opt = new AdamW(params, STORAGE[state]);
    return () => opt.step(grads);
  });
  const id = (state: string, threads: number) => `${state}@${threads}`;
  const members: Member[] = [];
  for (const t of config.threads) {
    COMPACT_STATES.forEach((state, i) => members.push({ id: id(state, t), run: steps[i], before: () => setNumThreads(t) }));
    members.push({ id: id('probe', t), run: () => probe.inPlace(t) });
  }
  const samples = measureInterleaved(members, config.policy);
  const perParam = (key: string) => summarize(samples.get(key)!.perCallNs.map((ns) => ns / config.params));
  const isa = addonInfo().isa;
  const rows: CompactRow[] = [];
  for (const t of config.threads) {
    const probeGbPerSecond = bytesPerParam('probe-inplace', 'float32') / perParam(id('probe', t)).median;
    const float32 = perParam(id('float32', t)).median;
    for (const state of COMPACT_STATES) {
      const s = perParam(id(state, t));
      const bytes = bytesPerParam(BYTES_WORKLOAD[state], 'float32');
      rows.push({
        isa,
        threads: t,
        state,
        params: config.params,
        reps: s.n,
        nsPerParam: s.median,
        p10NsPerParam: s.p10,
        p90NsPerParam: s.p90,
        bytesPerParam: bytes,
        gbPerSecond: bytes / s.median,
        ofProbe: bytes / s.median / probeGbPerSecond,
        ofFloat32: s.median / float32,
      });
    }
  }
  return rows;
}

/** The child's entry: the config as JSON in argv, the rows as JSON on stdout. */
export function compactChild(configJson: string): void {
  process.stdout.write(JSON.stringify(measureCompact(JSON.parse(configJson) as ChildConfig)));
}

/** How to start node on this module: the compiled JavaScript as is, the TypeScript source through ts-node. */
function childArgs(config: ChildConfig): string[] {
  const preload = __filename.endsWith('.ts') ? ['-r', require.resolve('ts-node/register/transpile-only')] : [];
  const script = `require(${JSON.stringify(__filename)}).compactChild(process.argv[1])`;
  return [...preload, '-e', script, JSON.stringify(config)];
}

/** Runs the section on every instruction set, one child process each; returns its rows and notes. */
export function runCompact(opts: BenchOptions, log: (line: string) => void): { rows: CompactRow[]; notes: string[] } {
  const config: ChildConfig = { params: opts.compactParams, threads: opts.threads, policy: policyFor(opts) };
  const rows: CompactRow[] = [];
  const notes: string[] = [];
  for (const isa of COMPACT_ISAS) {
    log(`compact state: AdamW ${opts.compactParams} params, FUSEDOPTIM_ISA=${isa}`);
    const run = spawnSync(process.execPath, childArgs(config), {
      env: { ...process.env, FUSEDOPTIM_ISA: isa },
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    });
    if (run.error || run.status !== 0) {
      notes.push(`Compact state on ${isa} failed: ${run.error?.message ?? run.stderr.trim().split('\n').pop()}`);
      continue;
    }
    const measured = JSON.parse(run.stdout) as CompactRow[];
    if (measured.length > 0 && measured[0].isa !== isa) {
      notes.push(`Compact state on ${isa} skipped: this CPU cannot run it (the addon chose ${measured[0].isa}).`);
      continue;
    }
    rows.push(...measured);
  }
  return { rows, notes };
}
