/**
 * `fusedoptim train --distributed`'s own flags on 2 ranks: --compression and --error-feedback are
 * kept in the run's configuration (the opening line says so; a run stopped and resumed without the
 * flags ends with the uninterrupted run's checkpoints, bit for bit; another compression, or
 * --shard-state, is refused once, writing nothing; resumed in one process it steps in float32 and
 * says so); a usage mistake is printed once, by rank 0, and every rank exits 2. Skipped (saying
 * why) where mpirun or the MPI addon is missing.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../lib/cli/main';
import { readCheckpoint } from '../lib/train/checkpoint';
import { captureIo } from './helpers/capture';
import { MpiRun, describeRun, runRanks, skipWithoutMpi } from './helpers/mpi';

/** How many times `text` occurs in the run's output. */
function count(run: MpiRun, text: string): number {
  return (run.stdout + run.stderr).split(text).length - 1;
}

describe('distributed: fusedoptim train --compression', function () {
  this.timeout(900_000);
  skipWithoutMpi(this);
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-dist-cli-'));
  after(() => fs.rmSync(runsDir, { recursive: true, force: true }));
  // 2 epochs of 22 steps on 2 ranks; stopped 8 steps into the second.
  const settings = ['--runs-dir', runsDir, '--epochs', '2', '--hidden', '32', '--seed', '1'];
  const compressed = ['--compression', 'bf16', '--error-feedback'];
  const train = (name: string, ...more: string[]) => runRanks(2, 'cli.ts', ['train', '--distributed', '--name', name, ...settings, ...more]);
  const file = (name: string, which = 'last') => path.join(runsDir, name, `${which}.safetensors`);
  let straight: MpiRun;

  before(async () => {
    straight = await train('straight', ...compressed, '--progress', 'none');
    const stopped = await train('stopped', ...compressed, '--quiet', '--max-steps', '30');
    for (const run of [straight, stopped]) expect(run.status, describeRun(run)).to.equal(0);
    for (const name of ['resumed', 'fp16', 'sharded', 'one']) fs.cpSync(path.join(runsDir, 'stopped'), path.join(runsDir, name), { recursive: true });
  });

  it('is kept in the configuration, with every rank\'s residuals; the opening line says so, once', () => {
    const ck = readCheckpoint(file('straight'));
    expect(ck.extra.config).to.include({ compression: 'bf16', errorFeedback: true });
    expect(ck.errorFeedback!.compression).to.equal('bf16');
    expect(ck.errorFeedback!.residuals).to.have.length(2);
    expect(count(straight, 'on 2 ranks, gradients sent in bf16 with error feedback, seed 1')).to.equal(1);
  });

  it('resumed without the flags: the checkpoints of the uninterrupted run, bit for bit', async () => {
    const run = await train('resumed', '--resume', '--quiet');
    expect(run.status, describeRun(run)).to.equal(0);
    for (const which of ['best', 'last']) {
      expect(fs.readFileSync(file('resumed', which)).equals(fs.readFileSync(file('straight', which))), which).to.equal(true);
    }
  });

  it('another compression, or --shard-state, is refused on resume, once, writing nothing', async () => {
    const before = fs.readFileSync(file('fp16'));
    const fp16 = await train('fp16', '--resume', '--quiet', '--compression', 'fp16');
    expect(fp16.status).to.not.equal(0);
    expect(count(fp16, 'resume: compression is "bf16" in the run being resumed; it cannot be changed to "fp16"'), describeRun(fp16)).to.equal(1);
    expect(fs.readFileSync(file('fp16')).equals(before)).to.equal(true);
    const sharded = await train('sharded', '--resume', '--quiet', '--shard-state');
    expect(sharded.status).to.not.equal(0);
    const refusal = "resume: this run sends its gradients in bf16 (its configuration's compression), and --shard-state reduce-scatters them uncompressed: resume it without --shard-state";
    expect(count(sharded, refusal), describeRun(sharded)).to.equal(1);
    expect(sharded.stdout + sharded.stderr).to.not.include('MPI_ABORT');
  });

  it('resumed in one process: steps with float32 gradients, and says so', async () => {
    const io = captureIo();
    // Log lines: the loop's own note on the residuals is a progress message.
    expect(await main(['train', '--name', 'one', ...settings, '--resume', '--progress', 'log'], io), io.err()).to.equal(0);
    expect(io.out()).to.include('note: this run sends its gradients between ranks in bf16; one process sends none, so its steps use them in float32');
    expect(io.out()).to.include("resume: the checkpoint's error-feedback residuals (of 2 ranks) are not used: this run is not distributed");
    expect(readCheckpoint(file('one')).extra.config).to.include({ compression: 'bf16', errorFeedback: true });
    expect(readCheckpoint(file('one')).progress!.globalStep).to.equal(44);
  });
});

describe('distributed: fusedoptim train, a usage mistake under mpirun', function () {
  this.timeout(300_000);
  skipWithoutMpi(this);

  it('is printed once, by rank 0, before MPI starts; every rank exits 2', async () => {
    const run = await runRanks(2, 'cli.ts', ['train', '--distributed', '--epochs', '-1']);
    expect(count(run, '--epochs must be an integer >= 1, got -1'), describeRun(run)).to.equal(1);
    expect(count(run, 'Run `fusedoptim train --help` for its options.')).to.equal(1);
    expect(run.ranks.map((r) => r.exitCode)).to.deep.equal([2, 2]);
    expect(run.status).to.equal(2);
    expect(run.stdout + run.stderr).to.not.include('MPI_ABORT');
  });
});
