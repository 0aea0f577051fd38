/** The benchmark's outputs: markdown tables for stdout and docs/performance.md, and the SVG chart. */
import { LineChart, Series, multiPanelSvg } from '../lib/train/plot';
import { bytesPerParam } from './bytes';
import { machineMarkdown } from './machine';
import type { BenchResult, BusyRow, CompactRow, TimingRow } from './results';

/** Three significant digits, without exponent for the ranges a benchmark sees. */
export function fmt(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const magnitude = Math.floor(Math.log10(Math.abs(x)));
  return x.toFixed(Math.max(0, digits - 1 - magnitude));
}

/** "16M", "64K", "102400". */
export function sizeLabel(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)}M`;
  if (n % 1024 === 0) return `${n / 1024}K`;
  return String(n);
}

function layoutLabel(row: TimingRow): string {
  return row.layout === 'one' ? '1 tensor' : `${row.tensors} tensors`;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [line(header), line(align), ...rows.map(line)].join('\n');
}

const isProbe = (r: TimingRow): boolean => r.workload.startsWith('probe-');

/**
 * The headline: each workload at the largest size of the first dtype, one
 * tensor, every thread count, beside the JavaScript backend, the 1000-tensor
 * layout at the same size, and the peers.
 */
export function summaryTable(result: BenchResult): string {
  const native = result.rows.filter((r) => r.backend === 'native' && !isProbe(r));
  if (native.length === 0) return '';
  const dtype = native[0].dtype;
  const ones = native.filter((r) => r.dtype === dtype && r.layout === 'one');
  if (ones.length === 0) return '';
  const params = Math.max(...ones.map((r) => r.params));
  const threads = [...new Set(ones.map((r) => r.threads))].sort((a, b) => a - b);
  const find = (pred: (r: TimingRow) => boolean) => result.rows.find(pred);
  const peers = [...new Set(result.rows.filter((r) => !['native', 'js'].includes(r.backend)).map((r) => r.backend))];
  const header = [
    'workload',
    'B/param',
    ...threads.flatMap((t) => [`ns/param (${t}T)`, `GB/s (${t}T)`, `of probe (${t}T)`]),
    'JS ns/param',
    `native/JS (${threads[threads.length - 1]}T)`,
    `1000 tensors / 1 (${threads[threads.length - 1]}T)`,
    ...peers.map((p) => `${p} ns/param`),
    ...(peers.includes('pytorch-fused') ? ['pytorch-fused / native'] : []),
  ];
  const workloads = [...new Set(ones.map((r) => r.workload))];
  const body = workloads.map((w) => {
    const at = (t: number) => find((r) => r.backend === 'native' && r.workload === w && r.dtype === dtype && r.layout === 'one' && r.params === params && r.threads === t);
    const js = find((r) => r.backend === 'js' && r.workload === w && r.dtype === dtype && r.layout === 'one' && r.params === params);
    const top = at(threads[threads.length - 1]);
    const many = find((r) => r.backend === 'native' && r.workload === w && r.dtype === dtype && r.layout === '1000' && r.threads === top?.threads && Math.abs(r.params - params) / params < 0.01);
    const bestOf = (p: string) => {
      const rows = result.rows.filter((r) => r.backend === p && r.workload === w && r.dtype === dtype && r.layout === 'one' && r.params === params);
      return rows.length === 0 ? null : rows.reduce((a, b) => (a.nsPerParam < b.nsPerParam ? a : b));
    };
    const peerCells = peers.map((p) => {
      const best = bestOf(p);
      return best ? `${fmt(best.nsPerParam)} (${best.threads}T)` : '–';
    });
    // The headline against PyTorch is against its fastest step, fused=True, at the same thread count.
    const fused = bestOf('pytorch-fused');
    const ours = fused ? at(fused.threads) : undefined;
    if (peers.includes('pytorch-fused')) peerCells.push(fused && ours ? `${fmt(fused.nsPerParam / ours.nsPerParam)}×` : '–');
    return [
      top?.label ?? w,
      String(bytesPerParam(w, dtype)),
      ...threads.flatMap((t) => {
        const r = at(t);
        return [fmt(r?.nsPerParam), fmt(r?.gbPerSecond), fmt(r?.ofProbe, 2)];
      }),
      fmt(js?.nsPerParam),
      top?.ratio ? `${fmt(top.ratio)}×` : '–',
      many && top ? fmt(many.nsPerParam / top.nsPerParam, 3) : '–',
      ...peerCells,
    ];
  });
  const probeCells = threads.map((t) => {
    const p = find((r) => r.workload === 'probe-inplace' && r.dtype === dtype && r.layout === 'one' && r.params === params && r.threads === t);
    return `${t}T ${fmt(p?.gbPerSecond)} GB/s`;
  });
  return (
    `${dtype}, ${sizeLabel(params)} params in one tensor (median of interleaved repetitions). ` +
    `In-place probe (a += s·b): ${probeCells.join(', ')}.\n\n` +
    table(header, body)
  );
}

export function timingTable(rows: readonly TimingRow[]): string {
  const header = ['workload', 'dtype', 'layout', 'params', 'backend', 'threads', 'ns/param', 'p10–p90', 'GB/s', 'of probe', 'native/JS', 'reps'];
  const body = rows.map((r) => [
    r.label || r.workload,
    r.dtype,
    layoutLabel(r),
    sizeLabel(r.params),
    r.backend,
    String(r.threads),
    fmt(r.nsPerParam),
    `${fmt(r.p10NsPerParam)}–${fmt(r.p90NsPerParam)}`,
    fmt(r.gbPerSecond),
    fmt(r.ofProbe, 2),
    r.backend === 'native' && r.ratio ? `${fmt(r.ratio)}×` : r.ratio ? `${fmt(r.ratio)}× fusedoptim` : '–',
    String(r.reps),
  ]);
  return table(header, body);
}

/** The compact-state section: per instruction set and thread count, float32, bfloat16 and 8-bit state side by side. */
export function compactTable(rows: readonly CompactRow[]): string {
  const header = ['ISA', 'threads', 'state', 'B/param', 'ns/param', 'p10–p90', 'GB/s', 'of probe', '× float32 state', 'reps'];
  const body = rows.map((r) => [
    r.isa,
    String(r.threads),
    r.state,
    fmt(r.bytesPerParam, 4),
    fmt(r.nsPerParam),
    `${fmt(r.p10NsPerParam)}–${fmt(r.p90NsPerParam)}`,
    fmt(r.gbPerSecond),
    fmt(r.ofProbe, 2),
    `${fmt(r.ofFloat32)}×`,
    String(r.reps),
  ]);
  return `AdamW, ${sizeLabel(rows[0].params)} float32 params in one tensor; each instruction set in its own process (FUSEDOPTIM_ISA).\n\n${table(header, body)}`;
}

/** The busy-machine section: the default team against one thread, without and with a spinning neighbour. */
export function busyTable(rows: readonly BusyRow[]): string {
  const header = ['params', 'neighbour', 'team', 'team ns/param', '1 thread ns/param', 'team / 1 thread', 'same, means', 'reps'];
  const body = rows.map((r) => [
    sizeLabel(r.params),
    r.neighbour ? 'spinning on a core' : 'none',
    String(r.team),
    fmt(r.teamNsPerParam),
    fmt(r.oneThreadNsPerParam),
    `${fmt(r.ratio)}×`,
    `${fmt(r.meanRatio)}×`,
    String(r.reps),
  ]);
  return `AdamW, float32 params in one tensor, the default team and one thread interleaved (medians; the means include the team's rare tries).\n\n${table(header, body)}`;
}

export function markdownReport(result: BenchResult): string {
  const parts = ['## fusedoptim benchmark', '', machineMarkdown(result.machine), ''];
  const summary = summaryTable(result);
  if (summary) parts.push('### Summary', '', summary, '');
  if (result.overhead.length > 0) {
    parts.push(
      '### Per-call overhead (1 thread)',
      '',
      table(
        ['case', 'backend', 'µs/call', 'p10–p90 µs', 'ns/param', 'target', 'met', 'reps'],
        result.overhead.map((o) => [
          o.case,
          o.backend,
          fmt(o.ns / 1000),
          `${fmt(o.p10Ns / 1000)}–${fmt(o.p90Ns / 1000)}`,
          o.params ? fmt(o.ns / o.params, 2) : '–',
          o.target === undefined ? '–' : `≤ ${o.target} ${o.params ? 'ns/param' : 'µs'}`,
          o.met === undefined ? '–' : o.met ? 'yes' : 'no',
          String(o.reps),
        ]),
      ),
      '',
    );
  }
  if (result.memory.length > 0) {
    parts.push(
      '### Memory',
      '',
      table(
        ['workload', 'params', 'steps', 'RSS growth (B)', 'external growth (B)', 'state B/param'],
        result.memory.map((m) => [m.label, sizeLabel(m.params), String(m.steps), String(m.rssGrowth), String(m.externalGrowth), fmt(m.stateBytesPerParam)]),
      ),
      '',
    );
  }
  if (result.compact.length > 0) parts.push('### Compact state', '', compactTable(result.compact), '');
  if (result.busy.length > 0) parts.push('### Busy machine', '', busyTable(result.busy), '');
  if (result.rows.length > 0) parts.push('### All timings', '', timingTable(result.rows), '');
  if (result.notes.length > 0) parts.push('### Notes', '', ...result.notes.map((n) => `- ${n}`), '');
  return parts.join('\n');
}

/**
 * ns/param against size (log2 of the parameter count), one panel per
 * workload, one line per backend and thread count, and the bandwidth limit:
 * the workload's bytes per param moved at the in-place probe's speed.
 */
export function chartSvg(result: BenchResult): string {
  const kernelRows = result.rows.filter((r) => !isProbe(r));
  const dtype = kernelRows[0]?.dtype ?? 'float32';
  const inDtype = result.rows.filter((r) => r.dtype === dtype && r.layout === 'one');
  const workloads = [...new Set(inDtype.filter((r) => !isProbe(r)).map((r) => r.workload))];
  const byParams = (rows: TimingRow[]) => [...rows].sort((a, b) => a.params - b.params);
  const panels: LineChart[] = workloads.map((w) => {
    const rows = inDtype.filter((r) => r.workload === w);
    const lines = new Map<string, TimingRow[]>();
    for (const r of rows) {
      const key = r.backend === 'native' || r.backend.startsWith('pytorch') ? `${r.backend} ${r.threads}T` : r.backend;
      lines.set(key, [...(lines.get(key) ?? []), r]);
    }
    const series: Series[] = [...lines].map(([name, list]) => ({
      name,
      points: byParams(list).map((r) => [Math.log2(r.params), r.nsPerParam] as [number, number]),
    }));
    const threads = [...new Set(rows.filter((r) => r.backend === 'native').map((r) => r.threads))];
    for (const t of threads) {
      const probes = byParams(inDtype.filter((r) => r.workload === 'probe-inplace' && r.threads === t));
      if (probes.length === 0) continue;
      series.push({
        name: `bandwidth limit ${t}T`,
        color: t === Math.max(...threads) ? '#000000' : '#888888',
        points: probes.map((p) => [Math.log2(p.params), bytesPerParam(w, dtype) / p.gbPerSecond] as [number, number]),
      });
    }
    return {
      title: `${rows.find((r) => r.label)?.label ?? w} (${dtype})`,
      xLabel: 'log2(params)',
      yLabel: 'ns/param',
      logY: true,
      width: 480,
      height: 320,
      series,
    };
  });
  return multiPanelSvg(panels, { columns: 3, title: `fusedoptim: ns per parameter, one tensor, ${dtype} — ${result.machine.cpu}` });
}
