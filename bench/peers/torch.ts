/**
 * PyTorch peer: torch.optim.Adam / AdamW / SGD(momentum) / Adagrad and
 * clip_grad_norm_ + Adam on float32 params (one tensor, and 1000 tensors when
 * that layout is measured), each with `fused=True` (PyTorch 2.4+ on CPU: one
 * kernel per tensor, its fastest step) and `foreach=True` (its multi-tensor
 * path of tensor operations), interleaved with each other inside a child
 * process. Not interleaved with fusedoptim: the ratio is against the main
 * suite's row of the same layout, size and thread count. Skipped, with the
 * reason, when the Python found cannot import torch (or is older than 2.4,
 * for the fused rows).
 *
 * Which Python: FUSEDOPTIM_TORCH_PYTHON, a command line split on spaces, such
 * as "chroot /opt/trixie python3" for Debian trixie's python3-torch (2.6) in a
 * debootstrap chroot on an older host; else FUSEDOPTIM_PYTHON (one path); else
 * python3 on PATH.
 */
import { spawnSync } from 'child_process';
import type { BenchOptions } from '../options';
import type { TimingRow } from '../results';
import type { LayoutId } from '../layouts';
import { groupsOf, timingRow } from '../suite';
import { WORKLOADS } from '../workloads';

export const TORCH_WORKLOADS = ['adam', 'adamw', 'sgd-momentum', 'adagrad', 'clip+adam'];
/** PyTorch's implementations compared, as the `backend` of their rows. */
const IMPLEMENTATIONS = { fused: 'pytorch-fused', foreach: 'pytorch-foreach' } as const;

/** Times each (threads, size, workload) with the same method as measure.ts: warm-up, batched repetitions, all samples returned. */
const SCRIPT = String.raw`
import json, sys, time
import torch
cfg = json.loads(sys.argv[1])
major, minor = (int(x) for x in torch.__version__.split(".")[:2])
impls = ["fused", "foreach"] if (major, minor) >= (2, 4) else ["foreach"]
out = {"torch": torch.__version__, "impls": impls, "results": []}
def make(w, ps, impl):
    flag = {impl: True}
    if w == "adam" or w == "clip+adam": return torch.optim.Adam(ps, lr=1e-3, **flag)
    if w == "adamw": return torch.optim.AdamW(ps, lr=1e-3, **flag)
    if w == "sgd-momentum": return torch.optim.SGD(ps, lr=1e-3, momentum=0.9, **flag)
    if w == "adagrad": return torch.optim.Adagrad(ps, lr=1e-3, **flag)
    raise ValueError(w)
def tensors(lengths):
    ps = []
    for n in lengths:
        p = torch.rand(n, dtype=torch.float32) - 0.5
        p.grad = torch.rand(n, dtype=torch.float32) - 0.5
        ps.append(p)
    return ps
def calibrate(step):
    for _ in range(2): step()
    calls = 1
    while True:
        t0 = time.perf_counter_ns()
        for _ in range(calls): step()
        dt = time.perf_counter_ns() - t0
        if dt >= cfg["min_rep_ns"] or calls >= 1 << 20: return max(1.0, dt / calls)
        calls *= 4
for threads in cfg["threads"]:
    torch.set_num_threads(threads)
    for layout, lengths in cfg["groups"]:
        ps = tensors(lengths)
        for w in cfg["workloads"]:
            members = []
            for impl in impls:
                opt = make(w, ps, impl)
                def step(opt=opt):
                    if w == "clip+adam":
                        torch.nn.utils.clip_grad_norm_(ps, 1.0, foreach=True)
                    opt.step()
                call_ns = calibrate(step)
                inner = max(1, int(-(-cfg["min_rep_ns"] // call_ns)))
                reps = cfg["reps"] or min(cfg["max_reps"], max(cfg["min_reps"], int(cfg["budget_ns"] // (call_ns * inner))))
                members.append({"impl": impl, "step": step, "inner": inner, "reps": reps, "samples": []})
            # Interleaved rounds, as bench/measure.ts does: drift hits both implementations alike.
            for r in range(max(m["reps"] for m in members)):
                for m in members:
                    if r >= m["reps"]: continue
                    t0 = time.perf_counter_ns()
                    for _ in range(m["inner"]): m["step"]()
                    m["samples"].append((time.perf_counter_ns() - t0) / m["inner"])
            for m in members:
                out["results"].append({"workload": w, "impl": m["impl"], "layout": layout, "params": sum(lengths), "tensors": len(lengths), "threads": threads, "samples": m["samples"]})
print(json.dumps(out))
`;

/** The command that runs the PyTorch side, as [program, ...arguments] (see the top of this file). */
export function pythonCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const command = env.FUSEDOPTIM_TORCH_PYTHON?.trim();
  if (command) return command.split(/\s+/);
  return [env.FUSEDOPTIM_PYTHON || 'python3'];
}

export function runTorch(opts: BenchOptions, suiteRows: readonly TimingRow[], log: (line: string) => void): { rows: TimingRow[]; notes: string[] } {
  const [python, ...pythonArgs] = pythonCommand();
  const shown = [python, ...pythonArgs].join(' ');
  const probe = spawnSync(python, [...pythonArgs, '-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = probe.error ? probe.error.message : (probe.stderr.trim().split('\n').pop() ?? `exit code ${probe.status}`);
    return {
      rows: [],
      notes: [
        `PyTorch skipped: \`${shown} -c "import torch"\` failed (${why}). Install torch for that Python (Debian 13: apt install python3-torch), ` +
          'or point FUSEDOPTIM_TORCH_PYTHON at a command that runs one, e.g. "chroot /opt/trixie python3" (see bench/README.md).',
      ],
    };
  }
  const workloads = TORCH_WORKLOADS.filter((w) => opts.workloads.includes(w));
  log(`peers: pytorch ${workloads.join(', ')}`);
  // The suite's float32 groups of the layouts PyTorch can be given alike: one tensor, and 1000 tensors.
  const groups = groupsOf({ ...opts, dtypes: ['float32'] })
    .filter((g) => g.layout === 'one' || g.layout === '1000')
    .map((g) => [g.layout, g.lengths]);
  const config = {
    threads: opts.threads,
    groups,
    workloads,
    reps: opts.reps ?? 0,
    min_reps: 5,
    max_reps: 400,
    budget_ns: opts.budgetSeconds * 1e9,
    min_rep_ns: 200_000,
  };
  const run = spawnSync(python, [...pythonArgs, '-c', SCRIPT, JSON.stringify(config)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.error || run.status !== 0) {
    return { rows: [], notes: [`PyTorch failed: ${run.error?.message ?? run.stderr.trim().split('\n').pop()}`] };
  }
  const parsed = JSON.parse(run.stdout) as {
    torch: string;
    impls: Array<keyof typeof IMPLEMENTATIONS>;
    results: Array<{ workload: string; impl: keyof typeof IMPLEMENTATIONS; layout: LayoutId; params: number; tensors: number; threads: number; samples: number[] }>;
  };
  const labels = new Map(WORKLOADS.map((w) => [w.id, w.label]));
  const rows = parsed.results.map((r) => {
    const key = { dtype: 'float32' as const, layout: r.layout, params: r.params, tensors: r.tensors };
    const row = timingRow(key, r.workload, labels.get(r.workload) ?? r.workload, IMPLEMENTATIONS[r.impl], r.threads, { perCallNs: r.samples, inner: 1 });
    const ours = suiteRows.find(
      (s) => s.backend === 'native' && s.workload === r.workload && s.dtype === 'float32' && s.layout === r.layout && s.params === r.params && s.threads === r.threads,
    );
    row.ratio = ours ? row.nsPerParam / ours.nsPerParam : null;
    return row;
  });
  const notes = [
    `PyTorch ${parsed.torch} (${shown}): float32, ${parsed.impls.map((i) => `${i}=True`).join(' and ')}, interleaved with each other in a child process after the suite ` +
      '(not interleaved with fusedoptim; ratio = PyTorch / fusedoptim native, same layout, size and threads).',
  ];
  if (!parsed.impls.includes('fused')) notes.push(`PyTorch ${parsed.torch} has no fused CPU step (2.4 added it): fused rows skipped.`);
  return { rows, notes };
}
