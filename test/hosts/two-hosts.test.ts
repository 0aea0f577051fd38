/**
 * Data-parallel training on two hosts (issue 23, item 7), run by
 * `npm run test:hosts` (not by `npm test`: it needs root, and CI runs it on its own).
 *
 * The hosts are two network namespaces joined by a veth pair (netns.ts), and
 * everything of the two-host run happens inside them: mpirun starts on host-a;
 * Open MPI's daemon (orted) reaches host-b through netns-agent.sh, the launcher
 * standing in for ssh; the ranks talk over TCP on the veth pair only (btl
 * tcp,self; the daemons' out-of-band channel too). The job is the digits MLP of
 * `fusedoptim train --distributed` for a few steps, which trains through
 * fusedoptim/distributed's public API; its checkpoint must be bit-identical to
 * the same 2-rank run on one host (a plain `mpirun -np 2`, shared memory).
 *
 * Skipped, saying why, where MPI is missing or namespaces cannot be made (not
 * root, no `ip`); the namespaces are removed at the end, also after a failure.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { listSafetensors } from '../../lib/train/safetensors';
import { ChildResult, REPO_ROOT, describeExit, runCommand } from '../helpers/child';
import { MPI_ENV, mpiUnavailable } from '../helpers/mpi';
import { INTERFACE, TwoHosts, createTwoHosts, namespacesUnavailable, ownNamespaces } from './netns';

const STEPS = 8;
/** Each mpirun's bound: a hung run is killed (and what it left in the namespaces with it). */
const RUN_TIMEOUT_MS = 180_000;

/** `fusedoptim train` on the digits for STEPS steps into runsDir/<name>, quiet, one kernel thread per rank. */
function digitsJob(runsDir: string, name: string): string[] {
  const cli = path.join(REPO_ROOT, 'bin', 'fusedoptim.js');
  return [process.execPath, cli, 'train', '--distributed', '--max-steps', String(STEPS), '--threads', '1', '--quiet', '--runs-dir', runsDir, '--name', name];
}

/** The node each rank was mapped to, from mpirun's --display-map: rank -> hostname. */
function ranksByNode(stdout: string): Map<number, string> {
  const map = new Map<number, string>();
  let node = '';
  for (const line of stdout.split('\n')) {
    const nodeLine = /Data for node: (\S+)/.exec(line);
    if (nodeLine) node = nodeLine[1];
    const rankLine = /Process rank: (\d+)/.exec(line);
    if (rankLine) map.set(Number(rankLine[1]), node);
  }
  return map;
}

describe('distributed: two hosts (network namespaces joined by a veth pair)', function () {
  this.timeout(600_000);
  let twoHosts: TwoHosts | null = null;
  let oneHost: ChildResult;
  let acrossHosts: ChildResult;
  const sent: number[] = [];

  before(async function () {
    const reason = mpiUnavailable() ?? namespacesUnavailable();
    if (reason !== null) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    const hosts = (twoHosts = createTwoHosts());
    const { dir } = hosts;
    oneHost = await runCommand('mpirun', ['--allow-run-as-root', '-np', '2', '--bind-to', 'none', ...digitsJob(dir, 'one-host')], {
      env: { ...process.env, ...MPI_ENV },
      timeoutMs: RUN_TIMEOUT_MS,
    });

    const [a, b] = hosts.hosts;
    const hostfile = path.join(dir, 'hostfile');
    fs.writeFileSync(hostfile, `${a.name} slots=1\n${b.name} slots=1\n`);
    const mpirun = [
      'mpirun',
      '--allow-run-as-root',
      '--hostfile',
      hostfile,
      '-np',
      '2',
      '--display-map',
      // Each daemon sees the whole machine as its own: bound, both ranks would share core 0.
      '--bind-to',
      'none',
      // Open MPI's session directories (one per hostname) in the hosts' folder, which goes with them:
      // a killed run leaves its directory behind.
      '--mca',
      'orte_tmpdir_base',
      dir,
      '--mca',
      'plm_rsh_agent',
      path.join(__dirname, 'netns-agent.sh'),
      // TCP between the ranks; ob1 so that UCX, where installed, cannot choose another path.
      '--mca',
      'pml',
      'ob1',
      '--mca',
      'btl',
      'tcp,self',
      '--mca',
      'btl_tcp_if_include',
      INTERFACE,
      '--mca',
      'oob_tcp_if_include',
      INTERFACE,
      ...digitsJob(dir, 'two-hosts'),
    ];
    const sentBefore = hosts.hosts.map((h) => hosts.sentBytes(h));
    const [command, ...args] = hosts.exec(a, mpirun);
    acrossHosts = await runCommand(command, args, {
      env: { ...process.env, FUSEDOPTIM_NETNS_HOSTS: hosts.agentMap },
      timeoutMs: RUN_TIMEOUT_MS,
    });
    hosts.hosts.forEach((h, i) => sent.push(hosts.sentBytes(h) - sentBefore[i]));
  });

  after(() => twoHosts?.remove());

  const checkpoint = (name: string) => listSafetensors(fs.readFileSync(path.join(twoHosts!.dir, name, 'last.safetensors')));

  it('trains on one host with a plain mpirun -np 2, and on two hosts, one rank on each', () => {
    expect(oneHost.status, describeExit(oneHost)).to.equal(0);
    expect(acrossHosts.status, describeExit(acrossHosts)).to.equal(0);
    expect([...ranksByNode(acrossHosts.stdout)].sort()).to.deep.equal([
      [0, 'host-a'],
      [1, 'host-b'],
    ]);
  });

  it("sends the gradients over the veth pair: each host sends at least half of every step's gradients", () => {
    // Two ranks' allReduce sends at least half of the vector each way, whatever the algorithm.
    const paramBytes = checkpoint('two-hosts')
      .tensors.filter((t) => t.name.startsWith('param.'))
      .reduce((sum, t) => sum + t.bytes.byteLength, 0);
    expect(paramBytes).to.be.greaterThan(0);
    for (const bytes of sent) expect(bytes).to.be.at.least((STEPS * paramBytes) / 2);
  });

  it('ends with the params and optimizer state of the run on one host, bit for bit, and the same losses', () => {
    const [one, two] = [checkpoint('one-host'), checkpoint('two-hosts')];
    expect(two.tensors.map((t) => t.name)).to.deep.equal(one.tensors.map((t) => t.name));
    expect(two.tensors.some((t) => t.name.startsWith('param.'))).to.equal(true);
    two.tensors.forEach((t, i) => expect(Buffer.compare(t.bytes, one.tensors[i].bytes), t.name).to.equal(0));
    // Losses and gradient norms are averaged over the ranks, through MPI too.
    expect(JSON.parse(two.metadata.history).trainLoss).to.have.length(STEPS);
    expect(two.metadata.history).to.equal(one.metadata.history);
  });

  it('removes its namespaces, their veth pair, their /etc/netns files and its folder', () => {
    const made = twoHosts!.hosts.map((h) => h.namespace);
    twoHosts!.remove();
    expect(ownNamespaces()).to.deep.equal([]);
    for (const ns of made) expect(fs.existsSync(`/etc/netns/${ns}`), ns).to.equal(false);
    expect(fs.existsSync(twoHosts!.dir)).to.equal(false);
  });
});
