/**
 * Stopping `fusedoptim train --distributed` as a user does (issue 23): Ctrl-C or SIGTERM to
 * mpirun, which forwards SIGTERM to every rank and kills them after its grace
 * (odls_base_sigkill_timeout, here 5 s as docs/distributed.md advises). With a neighbour
 * spinning on a core: the ranks stop at one step, last.safetensors holds the step the log says,
 * no MPI_Abort banner shows, the resume command is printed once and resumes, every rank exits
 * 143 after finalizing MPI (a rank killed by mpirun would report no exit at all), and mpirun
 * exits 1. Ctrl-C (SIGINT to mpirun) ends the same way.
 * Skipped (saying why) where mpirun or the MPI addon is missing.
 */
import { expect } from 'chai';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readCheckpoint } from '../lib/train/checkpoint';
import { describeRun, runRanks, skipWithoutMpi, startRanks } from './helpers/mpi';
import { waitUntil } from './helpers/wait';

/** mpirun's grace between its SIGTERM and its SIGKILL, as docs/distributed.md advises. */
const GRACE = ['--mca', 'odls_base_sigkill_timeout', '5'];

describe('distributed: stopping fusedoptim train through mpirun', function () {
  this.timeout(600_000);
  skipWithoutMpi(this);
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-stop-'));
  after(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  for (const [signal, load] of [['SIGTERM', true], ['SIGINT', false]] as const) {
    it(`${signal} to mpirun${load ? ', a neighbour spinning' : ''}: one step, saved, no MPI_Abort, the command once, ranks 143, mpirun 1`, async () => {
      const name = `stopped-${signal}`;
      const busy: ChildProcess | null = load ? spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }) : null;
      try {
        // The default model, whose steps are slow enough that the log stays far below a pipe's 64 KiB while
        // mpirun, asleep in its grace, reads none of it (docs/distributed.md: a rank that fills it blocks).
        const args = ['train', '--distributed', '--name', name, '--runs-dir', runsDir, '--epochs', '2000', '--progress', 'log'];
        const ranks = startRanks(2, 'cli.ts', args, 300_000, { mpirunArgs: GRACE });
        // Mid-run: the log has passed step 30 (of 22-step epochs).
        await waitUntil('step 30 in the log', () => /^step [3-9]\d /m.test(ranks.mpirun.output().stdout), 240_000);
        ranks.mpirun.child.kill(signal);
        const run = await ranks.done;
        const output = run.stdout + run.stderr;
        expect(run.status, describeRun(run)).to.equal(1);
        expect(output).to.not.include('MPI_ABORT');
        const stoppedAt = /training stopped \(aborted\) after step (\d+)/.exec(run.stdout);
        expect(stoppedAt, output).to.not.equal(null);
        expect(readCheckpoint(path.join(runsDir, name, 'last.safetensors')).progress!.globalStep).to.equal(Number(stoppedAt![1]));
        expect(output.split('stopping after the current step on every rank').length - 1, output).to.equal(1);
        const hints = [...output.matchAll(/interrupted; continue with: (.*)\n/g)];
        expect(hints, output).to.have.length(1);
        expect(hints[0][1]).to.equal(`fusedoptim train --resume --name ${name} --runs-dir ${runsDir}`);
        // Every rank finalized MPI and exited 143: mpirun forwards SIGTERM, whatever it was sent.
        expect(run.ranks.map((r) => r.exitCode), output).to.deep.equal([143, 143]);

        // The printed command, under mpirun again, continues from that step.
        const resumed = await runRanks(2, 'cli.ts', [...hints[0][1].split(' ').slice(1), '--distributed', '--quiet', '--max-steps', String(Number(stoppedAt![1]) + 5)]);
        expect(resumed.status, describeRun(resumed)).to.equal(0);
        expect(readCheckpoint(path.join(runsDir, name, 'last.safetensors')).progress!.globalStep).to.equal(Number(stoppedAt![1]) + 5);
      } finally {
        busy?.kill('SIGKILL');
      }
    });
  }
});
