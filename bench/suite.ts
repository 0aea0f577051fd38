/**
 * The main matrix: for each dtype, layout and size, every workload is timed
 * on the native backend at every thread count and on the JavaScript backend,
 * interleaved with the bandwidth probe at the same size and thread counts.
 * The params and grads of a size are shared by all its workloads; each
 * workload gets fresh optimizers (and so fresh state) for each backend.
 */
import type { BackendName } from '../lib/backend';
import { getNumThreads, setNumThreads } from '../lib/threads';
import { bytesPerParam } from './bytes';
import { Dtype, LayoutId, makeTensors, tensorLengths } from './layouts';
import { Member, MemberSamples, RepPolicy, measureInterleaved } from './measure';
import type { BenchOptions } from './options';
import { makeProbe } from './probe';
import type { BackendLabel, TimingRow } from './results';
import { summarize } from './stats';
import { WORKLOADS, Workload } from './workloads';

export const PROBE_LABELS: Readonly<Record<string, string>> = {
  'probe-inplace': 'probe a += s·b',
  'probe-read': 'probe Σ|b|',
};

export interface GroupKey {
  dtype: Dtype;
  layout: LayoutId;
  params: number;
  tensors: number;
}

export function policyFor(opts: BenchOptions): RepPolicy {
  return {
    warmupCalls: 2,
    reps: opts.reps,
    minReps: 5,
    maxReps: 400,
    budgetNs: opts.budgetSeconds * 1e9,
    minRepNs: 200_000,
  };
}

/** A row from one member's samples (ns per call). */
export function timingRow(
  key: GroupKey,
  workload: string,
  label: string,
  backend: BackendLabel,
  threads: number,
  samples: MemberSamples,
): TimingRow {
  const perParam = summarize(samples.perCallNs.map((ns) => ns / key.params));
  const bytes = bytesPerParam(workload, key.dtype);
  return {
    workload,
    label,
    dtype: key.dtype,
    layout: key.layout,
    params: key.params,
    tensors: key.tensors,
    backend,
    threads,
    reps: perParam.n,
    stepNs: perParam.median * key.params,
    nsPerParam: perParam.median,
    p10NsPerParam: perParam.p10,
    p90NsPerParam: perParam.p90,
    spread: perParam.spread,
    bytesPerParam: bytes,
    gbPerSecond: bytes / perParam.median,
    ofProbe: null,
    ofReadProbe: null,
    ratio: null,
  };
}

function nativeId(threads: number): string {
  return `native@${threads}`;
}

/** Times one workload of one group, interleaved with the probes; returns its rows and the probe samples. */
function timeWorkload(
  key: GroupKey,
  workload: Workload,
  params: Parameters<Workload['prepare']>[1],
  grads: Parameters<Workload['prepare']>[2],
  probe: ReturnType<typeof makeProbe>,
  opts: BenchOptions,
): { rows: TimingRow[]; probes: Map<string, MemberSamples> } {
  const members: Member[] = [];
  const prepared = (backend: BackendName) => workload.prepare(backend, params, grads);
  const native = prepared('native');
  for (const t of opts.threads) {
    members.push({ id: nativeId(t), run: native.step, before: () => setNumThreads(t) });
  }
  if (opts.js) members.push({ id: 'js', run: prepared('js').step, before: () => setNumThreads(1) });
  for (const t of opts.threads) {
    members.push({ id: `probe-inplace@${t}`, run: () => probe.inPlace(t) });
    members.push({ id: `probe-read@${t}`, run: () => probe.readOnly(t) });
  }
  const samples = measureInterleaved(members, policyFor(opts));
  const rows: TimingRow[] = [];
  const jsSamples = samples.get('js');
  const jsRow = jsSamples ? timingRow(key, workload.id, workload.label, 'js', 1, jsSamples) : null;
  for (const t of opts.threads) {
    const row = timingRow(key, workload.id, workload.label, 'native', t, samples.get(nativeId(t))!);
    const inPlace = timingRow(key, 'probe-inplace', '', 'native', t, samples.get(`probe-inplace@${t}`)!);
    const read = timingRow(key, 'probe-read', '', 'native', t, samples.get(`probe-read@${t}`)!);
    row.ofProbe = row.gbPerSecond / inPlace.gbPerSecond;
    row.ofReadProbe = row.gbPerSecond / read.gbPerSecond;
    if (jsRow) row.ratio = jsRow.nsPerParam / row.nsPerParam;
    rows.push(row);
  }
  if (jsRow) {
    // The JavaScript kernels run on one thread: compare with the one-thread probe when it was measured.
    const t = opts.threads.includes(1) ? 1 : opts.threads[0];
    const inPlace = timingRow(key, 'probe-inplace', '', 'native', t, samples.get(`probe-inplace@${t}`)!);
    jsRow.ofProbe = jsRow.gbPerSecond / inPlace.gbPerSecond;
    rows.push(jsRow);
  }
  const probes = new Map([...samples].filter(([id]) => id.startsWith('probe-')));
  return { rows, probes };
}

/** Every group of the matrix, in the order they run. */
export function groupsOf(opts: BenchOptions): Array<GroupKey & { lengths: number[] }> {
  const groups: Array<GroupKey & { lengths: number[] }> = [];
  for (const dtype of opts.dtypes) {
    for (const layout of opts.layouts) {
      // 100x1K does not depend on the size: run it once per dtype.
      const sizes = layout === '100x1K' ? [opts.sizes[0]] : opts.sizes;
      for (const size of sizes) {
        const lengths = tensorLengths(layout, size);
        if (!lengths) continue;
        const params = lengths.reduce((a, b) => a + b, 0);
        groups.push({ dtype, layout, params, tensors: lengths.length, lengths });
      }
    }
  }
  return groups;
}

/** Runs the whole matrix; `progress` receives one line per workload group. */
export function runSuite(opts: BenchOptions, progress: (line: string) => void): TimingRow[] {
  const rows: TimingRow[] = [];
  const workloads = WORKLOADS.filter((w) => opts.workloads.includes(w.id));
  const previousThreads = getNumThreads();
  try {
    for (const group of groupsOf(opts)) rows.push(...runGroup(group, workloads, opts, progress));
  } finally {
    setNumThreads(previousThreads);
  }
  return rows;
}

function runGroup(
  group: GroupKey & { lengths: number[] },
  workloads: readonly Workload[],
  opts: BenchOptions,
  progress: (line: string) => void,
): TimingRow[] {
  const rows: TimingRow[] = [];
  {
    const params = makeTensors(group.dtype, group.lengths, 1);
    const grads = makeTensors(group.dtype, group.lengths, 2);
    const accumulators = makeTensors(group.dtype, group.lengths, 3);
    const probe = makeProbe(accumulators, grads);
    // Probe samples pooled over the workloads of this group, per probe and thread count.
    const pooled = new Map<string, number[]>();
    for (const workload of workloads) {
      if (workload.float32Only && group.dtype !== 'float32') continue;
      progress(`${group.dtype} ${group.layout} ${group.params} params: ${workload.id}`);
      const result = timeWorkload(group, workload, params, grads, probe, opts);
      rows.push(...result.rows);
      for (const [id, s] of result.probes) pooled.set(id, [...(pooled.get(id) ?? []), ...s.perCallNs]);
    }
    for (const [id, perCallNs] of pooled) {
      const [name, threads] = id.split('@');
      rows.push(timingRow(group, name, PROBE_LABELS[name], 'native', Number(threads), { perCallNs, inner: 1 }));
    }
  }
  return rows;
}
