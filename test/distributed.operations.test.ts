/**
 * Data-parallel training as a cluster user meets it (issue 23), under mpirun:
 * a failure on one rank shows its message and stack, prefixed with the rank,
 * before the job is aborted.
 * Skipped (saying why) where mpirun or the MPI addon is missing.
 */
import { expect } from 'chai';
import { describeRun, runRanks, skipWithoutMpi } from './helpers/mpi';

describe('distributed: operations', function () {
  this.timeout(300_000);
  skipWithoutMpi(this);

  for (const [kind, what] of [['throw', 'uncaught exception'], ['reject', 'unhandled rejection']]) {
    it(`an ${what} on rank 1 prints its message and stack, prefixed with the rank, and the job ends non-zero`, async () => {
      const run = await runRanks(2, 'fatal.ts', [kind], 120_000);
      const output = run.stdout + run.stderr;
      expect(run.status, describeRun(run)).to.not.equal(0);
      expect(output).to.include(`[rank 1] ${what}: Error: the data loader failed on this rank`);
      expect(output, output).to.match(/^\[rank 1\] {5}at .*fatal\.ts:\d+/m);
    });
  }
});
