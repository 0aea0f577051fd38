/**
 * `fusedoptim bench --mpi --hosts` (npm run bench -- --mpi --hosts): compressed gradients where
 * bytes cost. Over shared memory on one host a link is as fast as a memcpy and halving the bytes
 * cannot win much; between two machines it can. Two ranks on two "hosts" (bench/hosts/netns.ts:
 * network namespaces joined by a veth pair, Open MPI's TCP transport between them, netns-agent.sh
 * in the place of ssh), the link unshaped and then rate-limited with tc (a token-bucket filter on
 * each end): for each, bench/mpi.ts's link section runs inside the namespaces and prints its
 * table (allReduce of 16M float32 and a data-parallel AdamW step, float32 against bf16 and fp16:
 * bytes each rank's interface sent, time, and both as ratios), and the veth pair's counters give
 * what each host sent in all.
 *
 *   --rates none,10gbit,1gbit   the links to measure (`none`: unshaped; the default; also e.g. 100mbit)
 *   --sizes 16 --reps 7         millions of float32, rounds (bench/mpi.ts)
 *
 * Needs root (namespaces, tc) and a clone (the launcher script); says why and stops otherwise.
 * Everything, mpirun included, runs inside the namespaces, which are removed at the end, also
 * when a run fails or the bench is interrupted. Each mpirun is killed after 20 minutes.
 */
import { spawn, spawnSync } from 'child_process';
import * as os from 'os';
import { INTERFACE, createTwoHosts, namespacesUnavailable, shapingUnavailable } from './hosts/netns';

const RUN_TIMEOUT_MS = 20 * 60_000;

/**
 * Runs a command, its stdout collected and its stderr passed through, without blocking the event
 * loop: a signal meanwhile runs netns.ts's handler, which kills what runs in the namespaces.
 */
function runInHost(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout });
    });
  });
}

export async function runMpiHostsBench(argv: string[]): Promise<number> {
  const mpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  const unavailable = mpirun.error || mpirun.status !== 0 ? 'mpirun not found (apt-get install openmpi-bin libopenmpi-dev)' : namespacesUnavailable();
  if (unavailable !== null) {
    process.stderr.write(`fusedoptim bench --mpi --hosts: cannot make two hosts here: ${unavailable}\n`);
    return 1;
  }
  const option = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  let rates = (option('--rates') ?? 'none,10gbit,1gbit').split(',');
  const shaping = rates.some((r) => r !== 'none') ? shapingUnavailable() : null;
  const lines = [`## Compressed gradients between two hosts (network namespaces, Open MPI over TCP): ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}`, ''];
  if (shaping !== null) {
    lines.push(`The link cannot be shaped here (${shaping}): unshaped TCP only.`, '');
    rates = ['none'];
  }
  // The ranks run this same command (the CLI that started us), with the link section only.
  const passed = ['--sizes', option('--sizes') ?? '16', ...(option('--reps') ? ['--reps', option('--reps')!] : [])];
  const hosts = createTwoHosts();
  try {
    for (const rate of rates) {
      hosts.shape(rate === 'none' ? null : rate);
      const label = rate === 'none' ? 'unshaped veth pair' : `${rate.replace('gbit', ' Gbit/s').replace('mbit', ' Mbit/s')} each way (tc tbf)`;
      const command = [
        'mpirun',
        '--allow-run-as-root',
        '-np',
        '2',
        ...hosts.mpirunOptions(1, 'tcp,self'),
        process.execPath,
        ...process.execArgv,
        process.argv[1],
        'bench',
        '--mpi',
        '--sections',
        'link',
        '--link',
        INTERFACE,
        label,
        ...passed,
      ];
      const before = hosts.hosts.map((h) => hosts.sentBytes(h));
      const [exe, ...args] = hosts.exec(hosts.hosts[0], command);
      process.stderr.write(`fusedoptim bench --mpi --hosts: ${label} ...\n`);
      const run = await runInHost(exe, args, { ...process.env, FUSEDOPTIM_NETNS_HOSTS: hosts.agentMap });
      if (run.status !== 0) {
        process.stderr.write(`fusedoptim bench --mpi --hosts: the run over the ${label} failed (${run.status ?? 'killed'})\n`);
        return 1;
      }
      const sent = hosts.hosts.map((h, i) => `${h.name} ${((hosts.sentBytes(h) - before[i]) / (1 << 20)).toFixed(0)} MiB`);
      // The ranks' markdown, without the heading of a plain --mpi run.
      const table = run.stdout.split('\n').filter((line) => !line.startsWith('## Data-parallel'));
      lines.push(table.join('\n').trim(), '', `In all (the veth pair's counters, start-up and warm-up included): ${sent.join(', ')}.`, '');
    }
  } finally {
    hosts.remove();
  }
  process.stdout.write(lines.join('\n'));
  return 0;
}
