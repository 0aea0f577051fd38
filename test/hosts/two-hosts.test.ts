/**
 * Data-parallel training on two hosts (issue 23, item 7), run by
 * `npm run test:hosts` (npm test leaves test/hosts/ out: it needs root, and CI runs it on its own).
 *
 * The hosts are two network namespaces joined by a veth pair (bench/hosts/netns.ts), and
 * everything of the two-host run happens inside them: mpirun starts on host-a;
 * Open MPI's daemon (orted) reaches host-b through netns-agent.sh, the launcher
 * standing in for ssh; the ranks talk over TCP on the veth pair only (btl
 * tcp,self; the daemons' out-of-band channel too). The job is the digits MLP of
 * `fusedoptim train --distributed` for a few steps, which trains through
 * fusedoptim/distributed's public API; its checkpoint must be bit-identical to
 * the same 2-rank run on one host (a plain `mpirun -np 2`, shared memory).
 * Then 4 ranks, two per host (shared memory within a host, TCP between), train
 * the MLP of fixtures/distributed/mlp.ts with `deterministic` averaging: the
 * params after every step are bit-identical to 4 ranks on one host.
 *
 * Skipped, saying why, where MPI is missing or namespaces cannot be made (not
 * root, no `ip`); the namespaces are removed at the end, also after a failure.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { listSafetensors } from '../../lib/train/safetensors';
import { ChildResult, REPO_ROOT, describeExit, runCommand } from '../helpers/child';
import { MPI_ENV, MpiRun, describeRun, mpiUnavailable, runRanks } from '../helpers/mpi';
import { TwoHosts, createTwoHosts, namespacesUnavailable, ownNamespaces } from '../../bench/hosts/netns';

const STEPS = 8;
/** Each mpirun's bound: a hung run is killed (and what it left in the namespaces with it). */
const RUN_TIMEOUT_MS = 300_000;

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
  this.timeout(900_000);
  let twoHosts: TwoHosts | null = null;

  before(function () {
    const reason = mpiUnavailable() ?? namespacesUnavailable();
    if (reason !== null) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    twoHosts = createTwoHosts();
  });

  after(() => twoHosts?.remove());

  describe('the digits job on 2 ranks, one per host, over TCP', () => {
    let oneHost: ChildResult;
    let across: ChildResult;
    const sent: number[] = [];

    before(async () => {
      const hosts = twoHosts!;
      oneHost = await runCommand('mpirun', ['--allow-run-as-root', '-np', '2', '--bind-to', 'none', ...digitsJob(hosts.dir, 'one-host')], {
        env: { ...process.env, ...MPI_ENV },
        timeoutMs: RUN_TIMEOUT_MS,
      });
      const mpirun = ['mpirun', '--allow-run-as-root', '-np', '2', '--display-map', ...hosts.mpirunOptions(1, 'tcp,self'), ...digitsJob(hosts.dir, 'two-hosts')];
      const sentBefore = hosts.hosts.map((h) => hosts.sentBytes(h));
      const [command, ...args] = hosts.exec(hosts.hosts[0], mpirun);
      across = await runCommand(command, args, { env: { ...process.env, FUSEDOPTIM_NETNS_HOSTS: hosts.agentMap }, timeoutMs: RUN_TIMEOUT_MS });
      hosts.hosts.forEach((h, i) => sent.push(hosts.sentBytes(h) - sentBefore[i]));
    });

    const checkpoint = (name: string) => listSafetensors(fs.readFileSync(path.join(twoHosts!.dir, name, 'last.safetensors')));

    it('trains on one host with a plain mpirun -np 2, and on two hosts, one rank on each', () => {
      expect(oneHost.status, describeExit(oneHost)).to.equal(0);
      expect(across.status, describeExit(across)).to.equal(0);
      expect([...ranksByNode(across.stdout)].sort()).to.deep.equal([
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
  });

  describe('4 ranks, two per host (shared memory within a host, TCP between), deterministic', () => {
    let oneHost: MpiRun;
    let across: MpiRun;

    before(async () => {
      const hosts = twoHosts!;
      oneHost = await runRanks(4, 'hosts.ts', [], RUN_TIMEOUT_MS);
      across = await runRanks(4, 'hosts.ts', [], RUN_TIMEOUT_MS, {
        // The ranks on host-b write their reports too: the launcher passes on no variable mpirun does not.
        mpirunArgs: [...hosts.mpirunOptions(2, 'tcp,self,vader'), '-x', 'FUSEDOPTIM_RANK_REPORTS'],
        wrap: (argv) => hosts.exec(hosts.hosts[0], argv),
        env: { FUSEDOPTIM_NETNS_HOSTS: hosts.agentMap },
      });
    });

    it('runs ranks 0 and 1 on host-a and ranks 2 and 3 on host-b, each host in its own network namespace', () => {
      for (const run of [oneHost, across]) expect(run.status, describeRun(run)).to.equal(0);
      expect(across.ranks.map((r) => r.hostname)).to.deep.equal(['host-a', 'host-a', 'host-b', 'host-b']);
      const [a0, a1, b0, b1] = across.ranks.map((r) => r.netns);
      expect([a1, b1]).to.deep.equal([a0, b0]);
      expect(b0).to.not.equal(a0);
    });

    it('keeps the params bit-identical on every rank and equal to 4 ranks on one host after every step', () => {
      const reference = oneHost.ranks[0].steps as string[];
      expect(reference).to.have.length(12);
      for (const run of [oneHost, across]) {
        expect(run.ranks.map((r) => r.failures)).to.deep.equal([[], [], [], []]);
        for (const r of run.ranks) expect(r.steps, `rank ${r.rank}`).to.deep.equal(reference);
      }
    });
  });

  describe('at the end', () => {
    it('removes its namespaces, their veth pair, their /etc/netns files and its folder', () => {
      const made = twoHosts!.hosts.map((h) => h.namespace);
      twoHosts!.remove();
      expect(ownNamespaces()).to.deep.equal([]);
      for (const ns of made) expect(fs.existsSync(`/etc/netns/${ns}`), ns).to.equal(false);
      expect(fs.existsSync(twoHosts!.dir)).to.equal(false);
    });
  });
});
