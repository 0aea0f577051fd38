/** The shape of a benchmark result: what the JSON holds and what the tables and the chart are made from. */
import type { MachineInfo } from './machine';
import type { Dtype, LayoutId } from './layouts';

export type BackendLabel = 'native' | 'js' | 'tfjs-cpu' | 'tfjs-wasm' | 'pytorch-fused' | 'pytorch-foreach';

export interface TimingRow {
  /** A workload id (workloads.ts) or 'probe-inplace' / 'probe-read'. */
  workload: string;
  label: string;
  dtype: Dtype;
  layout: LayoutId;
  /** Total parameters over all tensors. */
  params: number;
  tensors: number;
  backend: BackendLabel;
  threads: number;
  reps: number;
  /** Median nanoseconds per call (one step over all tensors). */
  stepNs: number;
  /** Median, 10th and 90th percentile nanoseconds per parameter. */
  nsPerParam: number;
  p10NsPerParam: number;
  p90NsPerParam: number;
  /** (p90 − p10) / median. */
  spread: number;
  /** bytes.ts's bytes per parameter. */
  bytesPerParam: number;
  /** bytesPerParam / nsPerParam. */
  gbPerSecond: number;
  /** gbPerSecond over the in-place probe's, measured in the same interleaved group (same size, dtype, layout, threads). */
  ofProbe: number | null;
  /** The same over the read-only probe. */
  ofReadProbe: number | null;
  /** For native rows: the JavaScript backend's median over this one (same group). For peer rows: this over fusedoptim native (same group). */
  ratio: number | null;
}

export interface OverheadRow {
  case: string;
  backend: BackendLabel;
  reps: number;
  /** Median nanoseconds per call, and the 10th/90th percentiles. */
  ns: number;
  p10Ns: number;
  p90Ns: number;
  /** Params per call, for the rows over many tensors (their ns/param is ns / params). */
  params?: number;
  /** The target of issue 21 for this row: at most `value` µs per call, or ns per param for the rows over many tensors. */
  target?: number;
  /** Whether the median meets the target. */
  met?: boolean;
}

export interface MemoryRow {
  workload: string;
  label: string;
  params: number;
  dtype: Dtype;
  steps: number;
  /** Growth over `steps` steps after a garbage collection at both ends, in bytes. */
  rssGrowth: number;
  externalGrowth: number;
  /** Optimizer state bytes per parameter. */
  stateBytesPerParam: number;
}

/** One member of the compact-state section (compact.ts): AdamW over one float32 tensor with one kind of state. */
export interface CompactRow {
  /** The kernel table the child process ran ('avx512', 'avx2', 'baseline'). */
  isa: string;
  threads: number;
  /** 'bfloat16-sr': bfloat16 rounded stochastically. */
  state: 'float32' | 'bfloat16' | 'bfloat16-sr' | 'int8';
  params: number;
  reps: number;
  nsPerParam: number;
  p10NsPerParam: number;
  p90NsPerParam: number;
  /** Bytes the step must move per parameter (bytes.ts): 28, 20, 20, 16.0625. */
  bytesPerParam: number;
  gbPerSecond: number;
  /** gbPerSecond over the in-place probe's, same process, same threads. */
  ofProbe: number;
  /** This step's time over the float32-state step's, same instruction set and threads. */
  ofFloat32: number;
}

/** One comparison of the busy-machine section (busy.ts): AdamW over one float32 tensor. */
export interface BusyRow {
  params: number;
  /** Whether a spinning neighbour process held a core while this was measured. */
  neighbour: boolean;
  /** The default team's size (OpenMP's default: OMP_NUM_THREADS, else the cores). */
  team: number;
  reps: number;
  teamNsPerParam: number;
  oneThreadNsPerParam: number;
  /** teamNsPerParam / oneThreadNsPerParam (medians): above 1, the team is slower than one thread. */
  ratio: number;
  /** The same with means: what a long run of steps takes, the team's rare costly tries included. */
  meanRatio: number;
}

export interface BenchResult {
  schema: 'fusedoptim-bench/1';
  machine: MachineInfo;
  argv: string[];
  rows: TimingRow[];
  overhead: OverheadRow[];
  memory: MemoryRow[];
  compact: CompactRow[];
  busy: BusyRow[];
  /** Why something was not measured (a missing peer, a skipped layout). */
  notes: string[];
  durationSeconds: number;
}
