/**
 * PyTorch peer: torch.optim.Adam / AdamW / SGD(momentum) and
 * clip_grad_norm_ + Adam on one float32 tensor, run by `python3` in a child
 * process (so not interleaved with fusedoptim: the ratio is against the main
 * suite's row of the same size and thread count). Skipped, with the reason,
 * when python3 cannot import torch.
 */
import { spawnSync } from 'child_process';
import type { BenchOptions } from '../options';
import type { TimingRow } from '../results';
import { timingRow } from '../suite';
import { WORKLOADS } from '../workloads';

export const TORCH_WORKLOADS = ['adam', 'adamw', 'sgd-momentum', 'clip+adam'];

/** Times each (threads, size, workload) with the same method as measure.ts: warm-up, batched repetitions, all samples returned. */
const SCRIPT = String.raw`
import json, sys, time
import torch
cfg = json.loads(sys.argv[1])
out = {"torch": torch.__version__, "results": []}
def make(w, p):
    if w == "adam" or w == "clip+adam": return torch.optim.Adam([p], lr=1e-3)
    if w == "adamw": return torch.optim.AdamW([p], lr=1e-3)
    if w == "sgd-momentum": return torch.optim.SGD([p], lr=1e-3, momentum=0.9)
    raise ValueError(w)
for threads in cfg["threads"]:
    torch.set_num_threads(threads)
    for n in cfg["sizes"]:
        for w in cfg["workloads"]:
            p = torch.rand(n, dtype=torch.float32) - 0.5
            p.grad = torch.rand(n, dtype=torch.float32) - 0.5
            opt = make(w, p)
            def step():
                if w == "clip+adam":
                    torch.nn.utils.clip_grad_norm_([p], 1.0)
                opt.step()
            for _ in range(2): step()
            calls = 1
            while True:
                t0 = time.perf_counter_ns()
                for _ in range(calls): step()
                dt = time.perf_counter_ns() - t0
                if dt >= cfg["min_rep_ns"] or calls >= 1 << 20: break
                calls *= 4
            call_ns = max(1.0, dt / calls)
            inner = max(1, int(-(-cfg["min_rep_ns"] // call_ns)))
            reps = cfg["reps"] or min(cfg["max_reps"], max(cfg["min_reps"], int(cfg["budget_ns"] // (call_ns * inner))))
            samples = []
            for _ in range(reps):
                t0 = time.perf_counter_ns()
                for _ in range(inner): step()
                samples.append((time.perf_counter_ns() - t0) / inner)
            out["results"].append({"workload": w, "params": n, "threads": threads, "samples": samples})
print(json.dumps(out))
`;

/** The Python that runs the PyTorch side: FUSEDOPTIM_PYTHON, else python3 on PATH (e.g. /usr/bin/python3 for Debian's python3-torch). */
function pythonCommand(): string {
  return process.env.FUSEDOPTIM_PYTHON || 'python3';
}

export function runTorch(opts: BenchOptions, suiteRows: readonly TimingRow[], log: (line: string) => void): { rows: TimingRow[]; notes: string[] } {
  const python = pythonCommand();
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = probe.error ? probe.error.message : (probe.stderr.trim().split('\n').pop() ?? `exit code ${probe.status}`);
    return {
      rows: [],
      notes: [`PyTorch skipped: \`${python} -c "import torch"\` failed (${why}). On Debian: apt install python3-torch, and FUSEDOPTIM_PYTHON=/usr/bin/python3 if python3 on PATH is another Python.`],
    };
  }
  const workloads = TORCH_WORKLOADS.filter((w) => opts.workloads.includes(w));
  log(`peers: pytorch ${workloads.join(', ')}`);
  const config = {
    threads: opts.threads,
    sizes: opts.sizes,
    workloads,
    reps: opts.reps ?? 0,
    min_reps: 5,
    max_reps: 400,
    budget_ns: opts.budgetSeconds * 1e9,
    min_rep_ns: 200_000,
  };
  const run = spawnSync(python, ['-c', SCRIPT, JSON.stringify(config)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.error || run.status !== 0) {
    return { rows: [], notes: [`PyTorch failed: ${run.error?.message ?? run.stderr.trim().split('\n').pop()}`] };
  }
  const parsed = JSON.parse(run.stdout) as {
    torch: string;
    results: Array<{ workload: string; params: number; threads: number; samples: number[] }>;
  };
  const labels = new Map(WORKLOADS.map((w) => [w.id, w.label]));
  const rows = parsed.results.map((r) => {
    const key = { dtype: 'float32' as const, layout: 'one' as const, params: r.params, tensors: 1 };
    const row = timingRow(key, r.workload, labels.get(r.workload) ?? r.workload, 'pytorch', r.threads, { perCallNs: r.samples, inner: 1 });
    const ours = suiteRows.find(
      (s) => s.backend === 'native' && s.workload === r.workload && s.dtype === 'float32' && s.layout === 'one' && s.params === r.params && s.threads === r.threads,
    );
    row.ratio = ours ? row.nsPerParam / ours.nsPerParam : null;
    return row;
  });
  return {
    rows,
    notes: [`PyTorch ${parsed.torch}: float32, one tensor, default optimizer implementation, run in a child process after the suite (not interleaved; ratio = PyTorch / fusedoptim native at the same thread count).`],
  };
}
