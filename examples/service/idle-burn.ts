/**
 * How much CPU the process burns while idle, right after a burst of optimizer
 * steps, for each OpenMP wait policy. Idle OpenMP worker threads may spin
 * (busy-wait) for the next parallel region instead of sleeping; in a service
 * that shares its cores, that is CPU taken from the requests.
 *
 * Each (policy, step kind) runs in its own child process: the OpenMP runtime
 * reads the environment once, when it starts, and libgomp shortens its spinning
 * once it manages more threads than there are CPUs, which a process that used
 * both step() (a team on the main thread) and stepAsync() (a team on a libuv
 * pool thread) soon does; measured in one process, the second kind would hide
 * the first kind's burn. The child runs a burst of Adam steps over 8M float32
 * params on 2 threads, then reads process.cpuUsage() over 1 s of doing nothing,
 * three times.
 *
 * Run: npx ts-node examples/service/idle-burn.ts
 */
import { execFileSync } from 'child_process';
import { Adam, alignedFloat32, setNumThreads } from '../../lib';

const PARAMS = 8 * 1024 * 1024;
const STEPS = 20;
const IDLE_MS = 1000;
const REPEATS = 3;

const POLICIES: Array<{ label: string; env: Record<string, string> }> = [
  { label: 'default (OMP_WAIT_POLICY unset)', env: {} },
  { label: 'OMP_WAIT_POLICY=passive', env: { OMP_WAIT_POLICY: 'passive' } },
  { label: 'OMP_WAIT_POLICY=active', env: { OMP_WAIT_POLICY: 'active' } },
];

/** CPU milliseconds (user + system, all threads of the process) used during `ms` of idle. */
async function idleCpuMs(ms: number): Promise<number> {
  const before = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

type StepKind = 'step' | 'stepAsync';

/** The child: a burst of steps of one kind, then idle, REPEATS times; prints the idle CPU ms as JSON. */
async function measure(kind: StepKind): Promise<void> {
  setNumThreads(2);
  const params = [alignedFloat32(PARAMS).fill(0.5)];
  const grads = [alignedFloat32(PARAMS).fill(0.01)];
  const opt = new Adam(params, { lr: 1e-3 });
  const idle: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    for (let s = 0; s < STEPS; s++) {
      if (kind === 'step') opt.step(grads);
      else await opt.stepAsync(grads);
    }
    idle.push(await idleCpuMs(IDLE_MS));
  }
  console.log(JSON.stringify(idle));
}

function main(): void {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`Idle CPU after ${STEPS} Adam steps over ${PARAMS / 2 ** 20}M float32 params on 2 threads`);
  console.log(`(CPU ms used by the whole process during ${IDLE_MS} ms of idle; median of ${REPEATS})\n`);
  console.log('| OpenMP wait policy | after step() | after stepAsync() |');
  console.log('|---|---|---|');
  for (const policy of POLICIES) {
    const env = { ...process.env, ...policy.env };
    if (!('OMP_WAIT_POLICY' in policy.env)) delete env.OMP_WAIT_POLICY;
    const run = (kind: StepKind) =>
      JSON.parse(execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', __filename, '--child', kind], { env, encoding: 'utf8' })) as number[];
    const cells = (['step', 'stepAsync'] as const).map((kind) => `${median(run(kind)).toFixed(0)} ms`);
    console.log(`| ${policy.label} | ${cells.join(' | ')} |`);
  }
}

if (require.main === module) {
  const child = process.argv.indexOf('--child');
  if (child >= 0) void measure(process.argv[child + 1] === 'step' ? 'step' : 'stepAsync');
  else main();
}
