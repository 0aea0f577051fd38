/**
 * A checkpoint save killed at any moment, and saves that cannot succeed.
 *
 * Child processes save checkpoints in a loop and are killed with SIGKILL after varied delays
 * (several lanes at once, each in its own directory, so hundreds of kills take seconds). After
 * each kill the checkpoint must load and be complete (every element holds the save's number,
 * which never goes back), and the temporary files earlier kills left must be gone once a later
 * save ran. Then a full disk (a small tmpfs, where this machine lets us mount one), a read-only
 * directory and a missing one: each a clear error with the system's code, the previous
 * checkpoint intact, no temporary file left.
 *
 * The children load the compiled library (dist/, which `npm test` builds first): a child that
 * starts in a tenth of a second is what makes 200 kills cheap.
 */
import { expect } from 'chai';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isAtomicTempName } from '../lib/train/atomic';
import { readCheckpoint, saveCheckpoint } from '../lib/train/checkpoint';
import { REPO_ROOT } from './helpers/child';
import { createRng } from './helpers/random';

const DIST_CHECKPOINT = path.join(REPO_ROOT, 'dist', 'lib', 'train', 'checkpoint.js');

/** Elements per checkpoint: 1 MiB of float32, so a kill often lands mid-write. */
const ELEMENTS = 1 << 18;

/** Saves `file` over and over, the i-th save's every element and `extra.i` equal to i; says "ready" first. */
const SAVER = `
const { saveCheckpoint } = require(${JSON.stringify(DIST_CHECKPOINT)});
const [file, start] = [process.argv[1], Number(process.argv[2])];
const param = new Float32Array(${ELEMENTS});
process.stdout.write('ready\\n');
for (let i = start + 1; ; i++) {
  param.fill(i);
  saveCheckpoint(file, { model: { params: [param] }, extra: { i } });
}
`;

/** The save number a checkpoint holds, after checking it is complete: checksum, and every element equal to it. */
function savedNumber(file: string): number {
  const ck = readCheckpoint(file);
  const i = ck.extra.i as number;
  const data = ck.params[0].data;
  expect(data.length).to.equal(ELEMENTS);
  for (let k = 0; k < data.length; k++) if (data[k] !== i) expect.fail(`element ${k} is ${data[k]}, not ${i}: a torn checkpoint`);
  return i;
}

function tempFilesIn(dir: string): string[] {
  return fs.readdirSync(dir).filter(isAtomicTempName);
}

/** Starts a saver; resolves once it is saving. */
function startSaver(file: string, start: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', SAVER, file, String(start)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code, signal) => reject(new Error(`saver exited (${code ?? signal}) before saving: ${stderr}`)));
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

interface LaneFigures {
  kills: number;
  /** Kills after which a temporary file was left: the kill landed inside a write. */
  midWrite: number;
  /** Saves completed across all children of the lane. */
  saves: number;
}

/** One directory, `kills` savers started and killed in turn, checked after each kill. */
async function lane(dir: string, kills: number, seed: number): Promise<LaneFigures> {
  const rng = createRng(seed);
  const random = (): number => rng.nextFloat();
  const file = path.join(dir, 'last.safetensors');
  const first = new Float32Array(ELEMENTS);
  saveCheckpoint(file, { model: { params: [first] }, extra: { i: 0 } });
  let last = 0;
  let midWrite = 0;
  let stale: string[] = [];
  for (let k = 0; k < kills; k++) {
    const child = await startSaver(file, last);
    // Kill at once, within a save or two, or after several: the delays cover every phase of a write.
    const delay = random() < 0.3 ? 0 : Math.floor(random() * (random() < 0.8 ? 15 : 60));
    await new Promise((resolve) => setTimeout(resolve, delay));
    await killed(child);

    const now = savedNumber(file); // complete, old or new
    expect(now, `kill ${k}: the checkpoint went back`).to.be.at.least(last);
    const temps = tempFilesIn(dir);
    if (now > last) {
      // A save ran since the earlier kills, and each save removes the temporaries of dead processes first.
      for (const name of stale) expect(temps, `kill ${k}: ${name} survived a later save`).to.not.include(name);
    }
    if (temps.some((name) => !stale.includes(name))) midWrite++;
    stale = temps;
    last = now;
  }
  // One more save, uninterrupted: nothing of ours is left beside the checkpoint.
  saveCheckpoint(file, { model: { params: [first.fill(last + 1)] }, extra: { i: last + 1 } });
  expect(fs.readdirSync(dir)).to.deep.equal(['last.safetensors']);
  return { kills, midWrite, saves: last };
}

describe('checkpoint saves killed at any moment (SIGKILL)', function () {
  this.timeout(300_000);
  let root: string;
  before(function () {
    if (process.platform === 'win32') this.skip();
    if (!fs.existsSync(DIST_CHECKPOINT)) throw new Error(`${DIST_CHECKPOINT} is missing: run \`npm run build:ts\` first (npm test does)`);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-kills-'));
  });
  after(() => root && fs.rmSync(root, { recursive: true, force: true }));

  it('200 kills over varied delays: every time a complete old or new checkpoint, stale temporaries removed by the next save', async () => {
    const lanes = 4;
    const seed = Number(process.env.FUSEDOPTIM_KILL_SEED ?? 13);
    const started = Date.now();
    const figures = await Promise.all(
      Array.from({ length: lanes }, (_, l) => {
        const dir = path.join(root, `lane-${l}`);
        fs.mkdirSync(dir);
        return lane(dir, 50, seed * 100 + l);
      }),
    );
    const total = figures.reduce((a, f) => ({ kills: a.kills + f.kills, midWrite: a.midWrite + f.midWrite, saves: a.saves + f.saves }), { kills: 0, midWrite: 0, saves: 0 });
    console.log(
      `      ${total.kills} kills (${total.midWrite} inside a write, leaving a temporary file), ${total.saves} saves completed, ` +
        `every checkpoint complete; ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${seed})`,
    );
    expect(total.kills).to.be.at.least(200);
    expect(total.midWrite, 'no kill landed inside a write: the test did not test that').to.be.greaterThan(0);
  });
});

describe('checkpoint saves that cannot succeed', () => {
  const checkpoint = (i: number, elements = 1024) => ({ model: { params: [new Float32Array(elements).fill(i)] }, extra: { i } });
  /** Saves, expecting the system's `code` in an error naming the file and saying it was left as it was. */
  function expectRefused(file: string, contents: ReturnType<typeof checkpoint>, codes: string[]): void {
    let error: NodeJS.ErrnoException | undefined;
    try {
      saveCheckpoint(file, contents);
    } catch (err) {
      error = err as NodeJS.ErrnoException;
    }
    expect(error, 'the save did not fail').to.be.instanceOf(Error);
    expect(error!.code).to.be.oneOf(codes);
    expect(error!.message).to.contain(JSON.stringify(file)).and.contain('was left as it was');
  }
  function expectIntact(file: string, i: number): void {
    expect(readCheckpoint(file).extra.i).to.equal(i);
    expect(tempFilesIn(path.dirname(file))).to.deep.equal([]);
  }

  const isRoot = process.getuid?.() === 0;
  let root: string;
  const mounts: string[] = [];
  /** A small tmpfs at a new directory, or null where this machine does not allow mounting one. */
  function tmpfs(size: string): string | null {
    const dir = fs.mkdtempSync(path.join(root, 'mnt-'));
    if (!isRoot || spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]).status !== 0) return null;
    mounts.push(dir);
    return dir;
  }
  before(function () {
    if (process.platform === 'win32') this.skip();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-refused-'));
  });
  after(() => {
    for (const dir of mounts.reverse()) spawnSync('umount', [dir]);
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('a full disk: ENOSPC, the previous checkpoint intact, no temporary file left', function () {
    const dir = tmpfs('1m');
    if (dir === null) {
      console.log('      (skipped: mounting a small tmpfs needs root here; atomic.test.ts fills a file-size limit instead)');
      this.skip();
    }
    const file = path.join(dir!, 'last.safetensors');
    saveCheckpoint(file, checkpoint(1));
    expectRefused(file, checkpoint(2, 1 << 19), ['ENOSPC']); // 2 MiB into a 1 MiB file system
    expectIntact(file, 1);
  });

  it('a read-only directory: EROFS or EACCES, the previous checkpoint intact', function () {
    let dir = tmpfs('1m');
    let restore = (): void => undefined;
    if (dir !== null) {
      saveCheckpoint(path.join(dir, 'last.safetensors'), checkpoint(1));
      if (spawnSync('mount', ['-o', 'remount,ro', dir]).status !== 0) this.skip();
    } else if (!isRoot) {
      dir = fs.mkdtempSync(path.join(root, 'ro-'));
      saveCheckpoint(path.join(dir, 'last.safetensors'), checkpoint(1));
      fs.chmodSync(dir, 0o555);
      restore = () => fs.chmodSync(dir!, 0o755);
    } else {
      console.log('      (skipped: root ignores permission bits, and no tmpfs could be mounted read-only)');
      this.skip();
    }
    try {
      const file = path.join(dir!, 'last.safetensors');
      expectRefused(file, checkpoint(2), ['EROFS', 'EACCES']);
      expectIntact(file, 1);
    } finally {
      restore();
    }
  });

  it('a missing directory is created; one that cannot be (a file in the way) is ENOTDIR, nothing written', () => {
    const made = path.join(root, 'new', 'run', 'last.safetensors');
    saveCheckpoint(made, checkpoint(1));
    expect(readCheckpoint(made).extra.i).to.equal(1);

    const blocker = path.join(root, 'not-a-directory');
    fs.writeFileSync(blocker, 'a file');
    const file = path.join(blocker, 'last.safetensors');
    let error: NodeJS.ErrnoException | undefined;
    try {
      saveCheckpoint(file, checkpoint(2));
    } catch (err) {
      error = err as NodeJS.ErrnoException;
    }
    expect(error?.code).to.be.oneOf(['ENOTDIR', 'EEXIST']);
    expect(fs.readFileSync(blocker, 'utf8')).to.equal('a file');
  });
});
