/**
 * fusedoptim/distributed's collectives (issue 10). Under mpirun on 2 and 4
 * ranks (test/fixtures/distributed/collectives.ts): exact results on
 * integer-valued float32 and float64 data, 1 to 1000 tensors, buckets that cut
 * tensors and pack many; Uint16Array and Uint8Array bits broadcast and
 * all-gathered exactly, refused by the reductions; sync and async, in call order; mismatched lengths,
 * dtypes and counts throwing ERR_COLLECTIVE_MISMATCH on every rank; a stalled
 * rank named by the others; a collective before init(). In this process: the
 * shard arithmetic, the mismatch messages, and the errors without MPI.
 * Skipped (saying why) where mpirun or the MPI addon is missing.
 */
import { expect } from 'chai';
import { shardRange } from '../lib/distributed';
import * as dist from '../lib/distributed';
import { fingerprintOf, RECORD_LENGTH, throwMismatch } from '../lib/distributed/fingerprint';
import { CollectiveKind, ReduceOpCode, mpiRemedy } from '../lib/distributed/mpi_addon';
import { failingBindings, runNodeChild } from './helpers/child';
import { MpiRun, describeRun, runRanks, skipWithoutMpi } from './helpers/mpi';

describe('distributed: collectives', function () {
  this.timeout(600_000);

  describe('in one process', () => {
    it('shardRange splits a vector into contiguous ranges, the first total % size ranks one longer', () => {
      expect([0, 1, 2].map((r) => shardRange(10, r, 3))).to.deep.equal([
        { begin: 0, end: 4 },
        { begin: 4, end: 7 },
        { begin: 7, end: 10 },
      ]);
      expect(shardRange(1, 3, 4)).to.deep.equal({ begin: 1, end: 1 });
      expect(() => shardRange(4, 2, 2)).to.throw(RangeError).with.property('code', 'ERR_OUT_OF_RANGE');
    });

    it('a collective before init() throws ERR_MPI_NOT_INITIALIZED, with or without the MPI addon', () => {
      const code = 'ERR_MPI_NOT_INITIALIZED';
      expect(() => dist.allReduce([new Float32Array(2)])).to.throw(RangeError, /allReduce: MPI is not initialised; call init\(\) first/).with.property('code', code);
      expect(() => dist.rank()).to.throw(RangeError).with.property('code', code);
    });

    it('a mismatch names the field that differs, both values and the rank, from every rank alike', () => {
      const call = { sequence: 3, kind: CollectiveKind.AllReduce, op: ReduceOpCode.Sum, root: 0, deterministic: false };
      const records = [
        fingerprintOf({ ...call, tensors: [new Float32Array(4), new Float64Array(2)] }),
        fingerprintOf({ ...call, tensors: [new Float32Array(4), new Float64Array(2)] }),
        fingerprintOf({ ...call, tensors: [new Float32Array(4), new Float64Array(3)] }),
      ];
      expect(records[0].length).to.equal(RECORD_LENGTH);
      const all = new Float64Array(3 * RECORD_LENGTH);
      records.forEach((r, i) => all.set(r, i * RECORD_LENGTH));
      for (const me of [0, 2]) {
        expect(() => throwMismatch(all, me, 'allReduce'))
          .to.throw(RangeError, /rank 2 has float64 elements 3 where rank 0 has 2/)
          .with.property('code', 'ERR_COLLECTIVE_MISMATCH');
      }
      // Same totals, other lengths: the lengths' hash tells.
      const swapped = Float64Array.from([...records[0], ...fingerprintOf({ ...call, tensors: [new Float32Array(4), new Float64Array(2)].reverse() })]);
      expect(() => throwMismatch(swapped, 1, 'allReduce')).to.throw(/rank 1 has element types/);
    });

    it('without the MPI addon, init() throws ERR_MPI_NOT_AVAILABLE naming every place it looked and the rebuild command', () => {
      const script = [
        ...failingBindings('Could not locate the bindings file. Tried: build/Release/fusedoptim_mpi.node'),
        "const dist = require('./lib/distributed');",
        'try { dist.init(); console.log(JSON.stringify({ threw: false })); }',
        'catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }',
      ].join('\n');
      const out = JSON.parse(runNodeChild(script).stdout);
      expect(out.code).to.equal('ERR_MPI_NOT_AVAILABLE');
      expect(out.name).to.equal('TypeError');
      expect(out.message).to.include('npm rebuild fusedoptim').and.include('Tried: Could not locate');
      expect(out.message.split('Could not locate').length - 1, 'a local build, a debug build, the prebuilt one').to.equal(3);
    });

    it('the command that fixes a failed load, by its cause', () => {
      const absent = ['/p/build/Release/fusedoptim_mpi.node (absent)', '/p/prebuilds/linux-x64/fusedoptim_mpi.node (absent)'];
      const noLibmpi = ['/p/prebuilds/linux-x64/fusedoptim_mpi.node (libmpi.so.40: cannot open shared object file: No such file or directory)'];
      // The prebuilt addon without Open MPI: install it; with another MPI's compiler: build against that one.
      expect(mpiRemedy(noLibmpi, false)).to.include('Install it: `apt-get install openmpi-bin`');
      expect(mpiRemedy(noLibmpi, true)).to.match(/another MPI is installed\. Build it against the MPI installed here: `npm rebuild fusedoptim`/);
      // Nothing to load: build where MPI is installed; else install it and build.
      expect(mpiRemedy(absent, true)).to.match(/^Build it against the MPI installed here: `npm rebuild fusedoptim`/);
      expect(mpiRemedy(absent, false)).to.include('`apt-get install openmpi-bin libopenmpi-dev && npm rebuild fusedoptim`');
    });
  });

  for (const np of [2, 4]) {
    describe(`on ${np} ranks (mpirun)`, function () {
      skipWithoutMpi(this);
      let run: MpiRun;
      before(async () => {
        run = await runRanks(np, 'collectives.ts');
      });

      it('every rank ran to the end and every check passed', () => {
        expect(run.status, describeRun(run)).to.equal(0);
        expect(run.ranks.map((r) => r.rank)).to.deep.equal([...Array(np).keys()]);
        for (const r of run.ranks) expect(r.failures, `rank ${r.rank}`).to.deep.equal([]);
      });

      it('mismatched lengths, dtypes and counts throw on every rank, naming rank 1 and what differs', () => {
        for (const r of run.ranks) {
          const m = r.mismatches as Record<string, string>;
          expect(m.lengths).to.match(/rank 1 has float32 elements 5 where rank 0 has 4/);
          expect(m.dtypes).to.match(/rank 1 has float32 tensor count 0 where rank 0 has 1/);
          expect(m.counts).to.match(/rank 1 has tensor count 1 where rank 0 has 2/);
          expect(m.lengths).to.include(`on rank ${r.rank}`);
          expect(r.bitsMismatch).to.match(/rank 1 has element types hash [0-9a-f]{8} where rank 0 has hash [0-9a-f]{8}/);
        }
      });

      it('a rank that joins a collective late is named in the others\' stall warnings', () => {
        // The late rank is among those named (on a loaded machine another may be late too).
        const stalls = run.stderr.split('\n').filter((line) => line.includes('stall')).join('\n');
        expect(run.stderr, stalls || run.stderr.slice(-2000)).to.match(new RegExp(`stall: rank \\d+ has waited [0-9.]+ s in collective #\\d+ \\(allReduce\\) for rank\\(s\\) (\\d+, )*${np - 1}, which have not joined it`));
      });
    });
  }
});
