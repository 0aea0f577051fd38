/**
 * `fusedoptim train` keeps runs from being lost (issue 15): a run folder that holds a run is
 * refused unless --resume or --force says what to do with it; SIGTERM stops like Ctrl-C (the step
 * finishes, last.safetensors is written, exit 143) and the printed command resumes to the bits of
 * an uninterrupted run; --checkpoint-every comes back on --resume; a run stopped before its first
 * validation says so, claims no best checkpoint, and its history.json holds numbers or null only.
 */
import { expect } from 'chai';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../lib/cli/main';
import { resumeCommand } from '../lib/cli/train';
import { readCheckpoint } from '../lib/train/checkpoint';
import { captureIo } from './helpers/capture';
import { REPO_ROOT } from './helpers/child';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-runs-'));
}

/** A directory listing with each file's bytes, to show that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(fs.readdirSync(dir).sort().map((name) => [name, fs.readFileSync(path.join(dir, name)).toString('base64')]));
}

/** Every value under `value` that is neither a number, null, a boolean, an array nor an object, with its path. */
function nonNumbers(value: unknown, where = ''): string[] {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => nonNumbers(v, `${where}[${i}]`));
  if (typeof value === 'object') return Object.entries(value as object).flatMap(([k, v]) => nonNumbers(v, `${where}.${k}`));
  return [`${where} = ${JSON.stringify(value)}`];
}

describe('fusedoptim train: runs that cannot be lost', function () {
  this.timeout(120_000);
  const runsDir = tempDir();
  const quick = ['--runs-dir', runsDir, '--epochs', '1', '--quiet'];

  it('refuses a folder that holds a run, naming --resume and --force; --force starts over', async () => {
    const first = captureIo();
    expect(await main(['train', '--name', 'taken', ...quick], first), first.err()).to.equal(0);
    const dir = path.join(runsDir, 'taken');
    const before = snapshot(dir);

    const again = captureIo();
    expect(await main(['train', '--name', 'taken', ...quick, '--seed', '3'], again)).to.equal(1);
    expect(again.err()).to.match(/taken already holds a run \(.*last\.safetensors.*\): continue it with --resume, or delete it and start over with --force \[ERR_INVALID_ARG_VALUE\]/);
    expect(snapshot(dir), 'the refused run changed the folder').to.deep.equal(before);

    const both = captureIo();
    expect(await main(['train', '--name', 'taken', ...quick, '--resume', '--force'], both)).to.equal(2);
    expect(both.err()).to.include('--resume and --force exclude each other');
    expect(snapshot(dir)).to.deep.equal(before);

    // --force deletes the old run: a new one stopped before validating leaves no stale best.safetensors.
    const forced = captureIo();
    expect(await main(['train', '--name', 'taken', ...quick, '--seed', '3', '--max-steps', '2', '--force'], forced), forced.err()).to.equal(0);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['history.json', 'history.svg', 'last.safetensors']);
    expect(readCheckpoint(path.join(dir, 'last.safetensors')).extra).to.have.nested.property('config.seed', 3);
  });

  it('a run stopped before its first validation says so, claims no best checkpoint, and writes numbers or null only', async () => {
    const io = captureIo();
    expect(await main(['train', '--name', 'early', '--runs-dir', runsDir, '--epochs', '1', '--max-steps', '3', '--progress', 'none'], io)).to.equal(0);
    expect(io.out()).to.match(/stopped \(maxSteps\) after 3 steps in [\d.]+ s, before the first validation: no best checkpoint yet/);
    expect(io.out()).to.not.include('best.safetensors');
    expect(io.out()).to.not.match(/NaN/);
    const text = fs.readFileSync(path.join(runsDir, 'early', 'history.json'), 'utf8');
    const summary = JSON.parse(text);
    expect(summary).to.include({ stopReason: 'maxSteps', globalStep: 3, epochsCompleted: 0, bestEpoch: null, bestValLoss: null });
    expect(summary).to.include({ bestValAccuracy: null, finalValAccuracy: null, bestCheckpoint: null });
    const { job, stopReason, ...rest } = summary;
    expect([job, stopReason, rest.config.stateDtype, rest.config.optimizer, rest.config.compression]).to.deep.equal(['digits', 'maxSteps', 'float32', 'AdamW', 'none']);
    // The strings of the configuration.
    delete rest.config.stateDtype;
    delete rest.config.optimizer;
    delete rest.config.compression;
    expect(nonNumbers(rest), 'strings where numbers belong').to.deep.equal([]);
    expect(summary.history.trainLoss).to.have.length(3);
  });

  it('--checkpoint-every is stored in the checkpoint and comes back on --resume (a new value replaces it)', async () => {
    const last = path.join(runsDir, 'every', 'last.safetensors');
    const base = ['train', '--name', 'every', '--runs-dir', runsDir, '--epochs', '2', '--quiet'];
    expect(await main([...base, '--checkpoint-every', '4', '--max-steps', '6'], captureIo())).to.equal(0);
    expect(readCheckpoint(last).extra.checkpointEvery).to.equal(4);
    expect(await main([...base, '--resume', '--max-steps', '10'], captureIo())).to.equal(0);
    expect(readCheckpoint(last).extra.checkpointEvery).to.equal(4);
    expect(readCheckpoint(last).progress!.globalStep).to.equal(10);
    expect(await main([...base, '--resume', '--max-steps', '12', '--checkpoint-every', '5'], captureIo())).to.equal(0);
    expect(readCheckpoint(last).extra.checkpointEvery).to.equal(5);
  });

  it('the resume command names --runs-dir (absolute) unless it is the default, and quotes what the shell would split', () => {
    expect(resumeCommand(path.resolve('runs', 'digits'))).to.equal('fusedoptim train --resume --name digits');
    expect(resumeCommand('/tmp/my runs/a')).to.equal("fusedoptim train --resume --name a --runs-dir '/tmp/my runs'");
    expect(resumeCommand("/srv/it's/b")).to.equal(`fusedoptim train --resume --name b --runs-dir '/srv/it'\\''s'`);
  });

  it('SIGTERM stops after the current step, writes last.safetensors, exits 143, and the printed command resumes to the uninterrupted bits', async () => {
    const settings = ['--epochs', '3', '--seed', '0'];
    // The uninterrupted run, in this process.
    const straight = captureIo();
    expect(await main(['train', '--name', 'straight', '--runs-dir', runsDir, ...settings, '--quiet'], straight), straight.err()).to.equal(0);

    // The same run in a child process working in another directory, stopped by SIGTERM once it has begun.
    const script = `require(${JSON.stringify(path.join(REPO_ROOT, 'lib', 'cli', 'main'))}).main(process.argv.slice(1)).then((code) => { process.exitCode = code; })`;
    const child = spawn(
      process.execPath,
      ['-r', require.resolve('ts-node/register/transpile-only'), '-e', script, '--', 'train', '--name', 'stopped', '--runs-dir', runsDir, ...settings, '--progress', 'log'],
      { cwd: tempDir(), env: { ...process.env, TS_NODE_PROJECT: path.join(REPO_ROOT, 'tsconfig.json') }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    child.stdout.on('data', (chunk) => {
      const started = !stdout.includes('training an MLP');
      stdout += chunk;
      if (started && stdout.includes('training an MLP')) child.kill('SIGTERM');
    });
    const { code, signal } = await exit;
    expect({ code, signal }, stderr).to.deep.equal({ code: 143, signal: null });
    expect(stdout).to.match(/stopped \(aborted\) after \d+ steps/);
    const hint = /interrupted; continue with: (.*)\n/.exec(stderr);
    expect(hint, stderr).to.not.equal(null);
    expect(hint![1]).to.equal(`fusedoptim train --resume --name stopped --runs-dir ${runsDir}`);
    const stopped = readCheckpoint(path.join(runsDir, 'stopped', 'last.safetensors'));
    expect(stopped.progress!.globalStep).to.be.below(3 * 45);

    // The printed command, run here: the same files as the uninterrupted run.
    const resumed = captureIo();
    expect(await main([...hint![1].split(' ').slice(1), '--quiet'], resumed), resumed.err()).to.equal(0);
    for (const file of ['best.safetensors', 'last.safetensors']) {
      expect(fs.readFileSync(path.join(runsDir, 'stopped', file)), file).to.deep.equal(fs.readFileSync(path.join(runsDir, 'straight', file)));
    }
  });

  // Issue 24: `--resume` over a truncated last.safetensors gave the parser's error, no file name and no way out.
  describe('a damaged last.safetensors', () => {
    const settings = ['--runs-dir', runsDir, '--epochs', '3', '--seed', '2', '--hidden', '16', '--quiet'];
    /** The run stopped 15 steps into its second epoch (45 steps each), last.safetensors then truncated. */
    const damagedRun = async (name: string): Promise<{ dir: string; damaged: Buffer }> => {
      expect(await main(['train', '--name', name, ...settings, '--max-steps', '60'], captureIo())).to.equal(0);
      const dir = path.join(runsDir, name);
      const bytes = fs.readFileSync(path.join(dir, 'last.safetensors'));
      const damaged = bytes.subarray(0, bytes.length - 64);
      fs.writeFileSync(path.join(dir, 'last.safetensors'), damaged);
      return { dir, damaged };
    };

    it('--resume refuses, names the file, points to --resume-from best, and writes nothing', async () => {
      const { dir } = await damagedRun('cut');
      const before = snapshot(dir);
      const io = captureIo();
      expect(await main(['train', '--name', 'cut', ...settings, '--resume'], io)).to.equal(1);
      const err = io.err();
      expect(err).to.include(`checkpoint ${JSON.stringify(path.join(dir, 'last.safetensors'))}: `);
      expect(err).to.include('resume refused, nothing written: best.safetensors (after epoch 1, step 45) is intact: continue from it with --resume-from best');
      expect(err).to.match(/\[ERR_CHECKPOINT_CORRUPT\]\n$/);
      expect(snapshot(dir), 'the refused resume changed the folder').to.deep.equal(before);
    });

    it('--resume-from best continues to the bits of the uninterrupted run and keeps the damaged file', async () => {
      expect(await main(['train', '--name', 'whole', ...settings], captureIo())).to.equal(0);
      const { dir, damaged } = await damagedRun('mended');
      const io = captureIo();
      expect(await main(['train', '--name', 'mended', ...settings.filter((a) => a !== '--quiet'), '--progress', 'none', '--resume-from', 'best'], io), io.err()).to.equal(0);
      expect(io.out()).to.match(/^resuming from the best epoch an MLP 64-16-10/);
      expect(io.out()).to.include('kept the damaged last.safetensors as');
      expect(fs.readFileSync(path.join(dir, 'last.safetensors.damaged')).equals(damaged)).to.equal(true);
      for (const file of ['best.safetensors', 'last.safetensors']) {
        expect(fs.readFileSync(path.join(dir, file)).equals(fs.readFileSync(path.join(runsDir, 'whole', file))), file).to.equal(true);
      }
    });

    it('with best.safetensors damaged too, says that no checkpoint is intact and names --force', async () => {
      const { dir } = await damagedRun('lost');
      const best = path.join(dir, 'best.safetensors');
      fs.writeFileSync(best, fs.readFileSync(best).subarray(0, 100));
      const io = captureIo();
      expect(await main(['train', '--name', 'lost', ...settings, '--resume'], io)).to.equal(1);
      expect(io.err()).to.include('no intact checkpoint to continue from (best.safetensors is damaged too); --force deletes the run and starts over');
      const fromBest = captureIo();
      expect(await main(['train', '--name', 'lost', ...settings, '--resume-from', 'best'], fromBest)).to.equal(1);
      expect(fromBest.err()).to.include(`checkpoint ${JSON.stringify(best)}: `);
      expect(fromBest.err()).to.include('(last.safetensors is damaged too)');
    });
  });

  // Issue 24: the point of --state-dtype, its memory, was said nowhere.
  it("the opening lines give the optimizer state's bytes and dtypes; history.json and inspect give the same", async () => {
    for (const [dtype, perParam] of [['float32', '8'], ['bfloat16', '4']]) {
      const name = `size-${dtype}`;
      const io = captureIo();
      expect(await main(['train', '--name', name, '--runs-dir', runsDir, '--epochs', '1', '--max-steps', '2', '--progress', 'none', '--state-dtype', dtype], io), io.err()).to.equal(0);
      // 64-128-64-10: 8192 + 128 + 8192 + 64 + 640 + 10 = 17226 params, two moments each.
      const bytes = 17226 * Number(perParam);
      expect(io.out().split('\n')[1]).to.equal(`optimizer state: ${bytes} bytes (${dtype} ${bytes}), ${perParam} bytes per param`);
      const summary = JSON.parse(fs.readFileSync(path.join(runsDir, name, 'history.json'), 'utf8'));
      expect(summary.optimizerState).to.deep.equal({ bytes, dtypes: { [dtype]: bytes } });
      const inspected = captureIo();
      expect(await main(['inspect', path.join(runsDir, name, 'last.safetensors')], inspected)).to.equal(0);
      expect(inspected.out()).to.include(`optimizer state: ${bytes} bytes (${dtype} ${bytes}), ${perParam} bytes per param`);
    }
    // 8-bit: the two large kernels' moments as codes with a scale per 256, the rest float32, two code maps.
    const io = captureIo();
    expect(await main(['train', '--name', 'size-int8', '--runs-dir', runsDir, '--epochs', '1', '--max-steps', '2', '--progress', 'none', '--state-dtype', 'int8'], io)).to.equal(0);
    const float32 = 2 * 4 * (128 + 64 + 640 + 10) + 2 * 4 * 2 * (8192 / 256) + 2 * 256 * 4;
    const uint8 = 2 * 2 * 8192;
    expect(io.out().split('\n')[1]).to.equal(`optimizer state: ${float32 + uint8} bytes (float32 ${float32}, uint8 ${uint8}), ${Number(((float32 + uint8) / 17226).toFixed(2))} bytes per param`);
    const inspected = captureIo();
    expect(await main(['inspect', path.join(runsDir, 'size-int8', 'last.safetensors')], inspected)).to.equal(0);
    expect(inspected.out()).to.include(`optimizer state: ${float32 + uint8} bytes (float32 ${float32}, uint8 ${uint8})`);
  });
});
