/**
 * Two "hosts" on this machine, for the two-host test (test/hosts/) and the
 * shaped-link benchmark (bench/mpi_hosts.ts): two network namespaces
 * joined by a veth pair, each end named `veth0` with an address of the test's
 * own (10.231.0.1/30 and 10.231.0.2/30), each namespace's /etc/hosts
 * (/etc/netns/<ns>/hosts, which `ip netns exec` mounts over /etc/hosts)
 * naming both hosts. The namespaces have no other interface but their
 * loopback, and no route but the /30 between them: nothing sent in them can
 * leave them.
 *
 * The namespaces are named after this process (fusedoptim-hosts-<pid>-a, -b),
 * and come with a folder for the test's files (`dir`). remove() ends the
 * processes still running in the namespaces (all started by the test), then
 * deletes them (which deletes the veth pair), their /etc/netns folders and
 * `dir`; it also runs on SIGINT and SIGTERM, and the next run removes the
 * namespaces a run killed outright left (those whose process is gone).
 *
 * shape() limits the link: a token-bucket filter (tc tbf) on each end of the
 * veth pair, so each direction runs at the given rate, as between two machines
 * on a network of that speed. It goes with the namespaces.
 *
 * Open MPI reaches the second host through netns-agent.sh (netnsAgent()), in
 * the place of ssh. Both files live here, in the source tree: a clone's.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const PREFIX = 'fusedoptim-hosts-';
/** The interface name at both ends, as cluster nodes often share one (eth1, ib0, ...). */
export const INTERFACE = 'veth0';

export interface Host {
  /** Its hostname, in the hostfile and both /etc/hosts. */
  name: string;
  namespace: string;
  address: string;
}

/** The launcher script standing in for ssh, from the source tree (a compiled copy of this file looks for it from the repository root). */
export function netnsAgent(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const agent = path.join(dir, 'bench', 'hosts', 'netns-agent.sh');
    if (fs.existsSync(agent)) return agent;
    if (path.dirname(dir) === dir) throw new Error(`netns-agent.sh not found above ${__dirname}: the two hosts run from a clone of the repository`);
  }
}

export interface TwoHosts {
  hosts: [Host, Host];
  /** A temporary folder, removed with the namespaces: the hostfile, Open MPI's session directories, the runs. */
  dir: string;
  /** `host=namespace host=namespace`: the agent script's map (netns-agent.sh, in FUSEDOPTIM_NETNS_HOSTS). */
  agentMap: string;
  /** argv that runs `command` on `host`, with the host's hostname (mpirun on the first host). */
  exec(host: Host, command: string[]): string[];
  /**
   * mpirun's options for a job across the hosts, `perHost` ranks on each: the hostfile, the
   * launcher in the place of ssh, the transports (`btl`), the veth pair as the only network.
   * Run mpirun on the first host (exec) with FUSEDOPTIM_NETNS_HOSTS=agentMap in its environment.
   */
  mpirunOptions(perHost: number, btl: string): string[];
  /** Bytes sent out of `host`'s end of the veth pair so far. */
  sentBytes(host: Host): number;
  /**
   * Limits each direction of the link to `rate` (tc's notation: '100mbit', '1gbit', '10gbit'), with a
   * token-bucket filter on each end of the veth pair; null removes the limit.
   */
  shape(rate: string | null): void;
  /** Ends the processes left in the namespaces and deletes them. Safe to call again. */
  remove(): void;
}

/** Runs a command, throwing its stderr on failure. */
function run(argv: string[]): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.signal ?? `exit code ${r.status}`}): ${r.stderr.trim()}`);
  return r.stdout;
}

function namespaces(): string[] {
  // `ip netns list` prints "name" or "name (id: N)".
  return run(['ip', 'netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => name.startsWith(PREFIX));
}

function removeNamespace(ns: string): void {
  if (!namespaces().includes(ns)) return;
  // Whatever a failed or timed-out run left (an orted, a rank), then the namespace and its veth end.
  for (const pid of run(['ip', 'netns', 'pids', ns]).split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  run(['ip', 'netns', 'delete', ns]);
  fs.rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The token-bucket filter of shape(): `burst` bytes may leave at once (at least one
 * timer tick's worth of the rate, or the filter cannot reach it), and a packet waits
 * at most `latency` for tokens before it is dropped (TCP then slows to the rate).
 */
function tbf(rate: string): string[] {
  const [, value, unit] = /^([0-9.]+)(mbit|gbit)$/.exec(rate) ?? [];
  const bitsPerSecond = Number(value) * (unit === 'gbit' ? 1e9 : 1e6);
  if (!(bitsPerSecond > 0)) throw new Error(`shape: expected a rate such as '100mbit', '1gbit' or '10gbit', got ${rate}`);
  // 2 ms of the rate, and at least 256 KiB: 256 KiB at 1 Gbit/s, 2.4 MiB at 10.
  const burst = Math.max(256 << 10, Math.round((bitsPerSecond / 8) * 0.002));
  return ['tbf', 'rate', rate, 'burst', String(burst), 'latency', '50ms'];
}

/** Why the link between two namespaces cannot be shaped here (no `tc`, no tbf in the kernel), or null when it can. */
export function shapingUnavailable(): string | null {
  const r = spawnSync('tc', ['-V'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return '`tc` not found (apt-get install iproute2)';
  const probe = `${PREFIX}${process.pid}-tc`;
  const steps = [
    ['ip', 'netns', 'add', probe],
    ['ip', '-n', probe, 'link', 'add', 'tc0', 'type', 'veth', 'peer', 'name', 'tc1'],
    ['ip', 'netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'tc0', 'root', ...tbf('1gbit')],
  ];
  try {
    for (const argv of steps) {
      const step = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
      if (step.status !== 0) return `\`${argv.join(' ')}\` failed: ${step.stderr.trim() || step.error}`;
    }
    return null;
  } finally {
    removeNamespace(probe);
  }
}

/** Why two namespaces cannot be made here (no `ip`, no `unshare`, no permission), or null when they can. */
export function namespacesUnavailable(): string | null {
  for (const [tool, args, hint] of [
    ['ip', ['-V'], 'apt-get install iproute2'],
    ['unshare', ['--version'], 'apt-get install util-linux'],
  ] as const) {
    const r = spawnSync(tool, args, { encoding: 'utf8' });
    if (r.error || r.status !== 0) return `\`${tool}\` not found (${hint})`;
  }
  const probe = `${PREFIX}${process.pid}-probe`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `cannot create a network namespace (${made.stderr.trim() || made.error}); it needs root (CAP_SYS_ADMIN)`;
  // A new hostname needs a UTS namespace: the same privilege, but a container may refuse one and not the other.
  const uts = spawnSync('ip', ['netns', 'exec', probe, 'unshare', '--uts', 'true'], { encoding: 'utf8' });
  removeNamespace(probe);
  if (uts.status !== 0) return `cannot create a UTS namespace inside a network namespace (${uts.stderr.trim() || uts.error})`;
  return null;
}

/** Creates the two hosts (after removing those of runs that were killed). */
export function createTwoHosts(): TwoHosts {
  for (const ns of namespaces()) {
    const owner = Number(ns.slice(PREFIX.length).split('-')[0]);
    if (owner !== process.pid && !alive(owner)) removeNamespace(ns);
  }
  const hosts: [Host, Host] = [
    { name: 'host-a', namespace: `${PREFIX}${process.pid}-a`, address: '10.231.0.1' },
    { name: 'host-b', namespace: `${PREFIX}${process.pid}-b`, address: '10.231.0.2' },
  ];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), PREFIX));
  const remove = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const host of hosts) removeNamespace(host.namespace);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // An interrupted test still removes them; the signal is raised again to end the process as it would have.
  const onSignal = (signal: NodeJS.Signals): void => {
    remove();
    process.kill(process.pid, signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const [a, b] = hosts;
    for (const host of hosts) run(['ip', 'netns', 'add', host.namespace]);
    // Made inside the first namespace with its peer in the second: the pair never exists outside them.
    run(['ip', '-n', a.namespace, 'link', 'add', INTERFACE, 'type', 'veth', 'peer', 'name', INTERFACE, 'netns', b.namespace]);
    const etcHosts = ['127.0.0.1 localhost', ...hosts.map((h) => `${h.address} ${h.name}`), ''].join('\n');
    for (const host of hosts) {
      run(['ip', '-n', host.namespace, 'addr', 'add', `${host.address}/30`, 'dev', INTERFACE]);
      run(['ip', '-n', host.namespace, 'link', 'set', INTERFACE, 'up']);
      // Open MPI's daemons and ranks on one host talk to each other over loopback.
      run(['ip', '-n', host.namespace, 'link', 'set', 'lo', 'up']);
      fs.mkdirSync(`/etc/netns/${host.namespace}`, { recursive: true });
      fs.writeFileSync(`/etc/netns/${host.namespace}/hosts`, etcHosts);
    }
  } catch (err) {
    remove();
    throw err;
  }
  return {
    hosts,
    dir,
    agentMap: hosts.map((h) => `${h.name}=${h.namespace}`).join(' '),
    mpirunOptions: (perHost, btl) => {
      const hostfile = path.join(dir, `hostfile-${perHost}`);
      fs.writeFileSync(hostfile, hosts.map((h) => `${h.name} slots=${perHost}\n`).join(''));
      return [
        '--hostfile',
        hostfile,
        // Each daemon sees the whole machine as its own: bound, the hosts' ranks would share cores.
        '--bind-to',
        'none',
        // Open MPI's session directories (one per hostname) in the hosts' folder, which goes with them:
        // a killed run leaves its directory behind.
        '--mca',
        'orte_tmpdir_base',
        dir,
        '--mca',
        'plm_rsh_agent',
        netnsAgent(),
        // ob1, so that UCX, where installed, cannot choose another path than `btl`.
        '--mca',
        'pml',
        'ob1',
        '--mca',
        'btl',
        btl,
        '--mca',
        'btl_tcp_if_include',
        INTERFACE,
        '--mca',
        'oob_tcp_if_include',
        INTERFACE,
      ];
    },
    exec: (host, command) => ['ip', 'netns', 'exec', host.namespace, 'unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', host.name, ...command],
    sentBytes: (host) => {
      const [link] = JSON.parse(run(['ip', '-n', host.namespace, '-j', '-s', 'link', 'show', INTERFACE])) as Array<{ stats64: { tx: { bytes: number } } }>;
      return link.stats64.tx.bytes;
    },
    shape: (rate) => {
      for (const host of hosts) {
        const tc = ['ip', 'netns', 'exec', host.namespace, 'tc', 'qdisc'];
        if (rate === null) spawnSync(tc[0], [...tc.slice(1), 'del', 'dev', INTERFACE, 'root']);
        else run([...tc, 'replace', 'dev', INTERFACE, 'root', ...tbf(rate)]);
      }
    },
    remove,
  };
}

/** The namespaces of this process that exist now (none once remove() ran). */
export function ownNamespaces(): string[] {
  return namespaces().filter((ns) => ns.startsWith(`${PREFIX}${process.pid}-`));
}
