import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ErrorCodes } from '../lib/errors';
import { isAtomicTempName, writeFileAtomic, writeFileAtomicSync } from '../lib/train/atomic';

type Writer = (file: string, data: Parameters<typeof writeFileAtomicSync>[1]) => Promise<void>;

/** The two forms under one signature, so every behaviour is tested for both. */
const writers: [string, Writer][] = [
  ['writeFileAtomicSync', async (file, data) => writeFileAtomicSync(file, data)],
  ['writeFileAtomic', (file, data) => writeFileAtomic(file, data)],
];

/** A pid no process has: a child's, after it exited (pids are not reused this quickly). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(child.stdout.trim());
}

describe('atomic file writes', () => {
  it('isAtomicTempName tells its temporary files from everything else', () => {
    expect(isAtomicTempName('.last.safetensors.4242.0123456789ab.tmp')).to.equal(true);
    expect(isAtomicTempName('.a.b.c.1.ffffffffffff.tmp')).to.equal(true);
    for (const name of ['last.safetensors', '.last.safetensors', 'last.safetensors.4242.0123456789ab.tmp', '.x.0.0123456789ab.tmp', '.x.12.0123456789a.tmp', '.x.12.0123456789AB.tmp', '.x.12.0123456789ab.tmp~']) {
      expect(isAtomicTempName(name), name).to.equal(false);
    }
  });

  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-atomic-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, write] of writers) {
    describe(name, () => {
      it('creates a file, then replaces it, leaving no temporary files', async () => {
        const file = path.join(dir, 'checkpoint.bin');
        await write(file, 'first');
        expect(fs.readFileSync(file, 'utf8')).to.equal('first');
        await write(file, Buffer.from('second, longer'));
        expect(fs.readFileSync(file, 'utf8')).to.equal('second, longer');
        expect(fs.readdirSync(dir)).to.deep.equal(['checkpoint.bin']);
      });

      it('writes a list of chunks in order, including empty ones and more than one writev holds', async () => {
        const file = path.join(dir, 'chunks.bin');
        const chunks = Array.from({ length: 3000 }, (_, i) => Buffer.from(i % 7 === 0 ? '' : `${i},`));
        await write(file, chunks);
        expect(fs.readFileSync(file).equals(Buffer.concat(chunks))).to.equal(true);
      });

      it('writes typed-array views exactly (only their bytes, not the whole ArrayBuffer)', async () => {
        const file = path.join(dir, 'view.bin');
        const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
        await write(file, [backing.subarray(2, 5)]);
        expect([...fs.readFileSync(file)]).to.deep.equal([1, 2, 3]);
      });

      it('fails clearly when the directory does not exist, and leaves nothing behind', async () => {
        const file = path.join(dir, 'missing', 'checkpoint.bin');
        let error: NodeJS.ErrnoException | undefined;
        await write(file, 'data').catch((err) => (error = err));
        expect(error?.code).to.equal('ENOENT');
        expect(error?.message).to.contain(`cannot write ${JSON.stringify(file)}: ENOENT`).and.contain('was left as it was');
        expect(error?.path).to.equal(file);
        expect(fs.readdirSync(dir)).to.deep.equal([]);
      });

      it('keeps the permission bits of the file it replaces, whatever the umask', async () => {
        const file = path.join(dir, 'private.bin');
        fs.writeFileSync(file, 'old');
        for (const mode of [0o600, 0o640, 0o777]) {
          fs.chmodSync(file, mode);
          await write(file, `new ${mode}`);
          expect(fs.statSync(file).mode & 0o7777, mode.toString(8)).to.equal(mode);
          expect(fs.readFileSync(file, 'utf8')).to.equal(`new ${mode}`);
        }
      });

      it('writes through a symbolic link to its target, which it replaces; the link stays a link', async () => {
        fs.mkdirSync(path.join(dir, 'real'));
        const target = path.join(dir, 'real', 'model.bin');
        fs.writeFileSync(target, 'old');
        fs.chmodSync(target, 0o600);
        const link = path.join(dir, 'latest.bin');
        fs.symlinkSync(path.join('real', 'model.bin'), link); // relative, resolved from the link's directory
        const chain = path.join(dir, 'chain.bin');
        fs.symlinkSync(link, chain);
        await write(chain, 'new');
        expect(fs.lstatSync(link).isSymbolicLink()).to.equal(true);
        expect(fs.lstatSync(chain).isSymbolicLink()).to.equal(true);
        expect(fs.readFileSync(target, 'utf8')).to.equal('new');
        expect(fs.statSync(target).mode & 0o7777).to.equal(0o600);
        expect(fs.readdirSync(path.join(dir, 'real'))).to.deep.equal(['model.bin']);
      });

      it('creates the target of a dangling link; refuses a loop of links with ELOOP, naming the path', async () => {
        const link = path.join(dir, 'dangling');
        fs.symlinkSync('created.bin', link);
        await write(link, 'made');
        expect(fs.readFileSync(path.join(dir, 'created.bin'), 'utf8')).to.equal('made');
        expect(fs.lstatSync(link).isSymbolicLink()).to.equal(true);

        fs.symlinkSync('loop-b', path.join(dir, 'loop-a'));
        fs.symlinkSync('loop-a', path.join(dir, 'loop-b'));
        let error: NodeJS.ErrnoException | undefined;
        await write(path.join(dir, 'loop-a'), 'x').catch((err) => (error = err));
        expect(error?.code).to.equal('ELOOP');
        expect(error?.message).to.contain('loop-a').and.contain('was left as it was');
      });

      it('removes stale temporary files of dead processes, and nothing else', async () => {
        const dead = deadPid();
        const stale = [`.checkpoint.bin.${dead}.0123456789ab.tmp`, `.other.safetensors.${dead}.abcdefabcdef.tmp`];
        const kept = [
          `.checkpoint.bin.${process.pid}.0123456789ab.tmp`, // this process: perhaps a write in flight
          `.checkpoint.bin.${process.ppid}.0123456789ab.tmp`, // a live process
          `.checkpoint.bin.${dead}.0123.tmp`, // not our naming
          `checkpoint.bin.${dead}.0123456789ab.tmp`,
          'notes.tmp',
        ];
        for (const name of [...stale, ...kept]) fs.writeFileSync(path.join(dir, name), 'x');
        await write(path.join(dir, 'checkpoint.bin'), 'data');
        expect(fs.readdirSync(dir).sort()).to.deep.equal([...kept, 'checkpoint.bin'].sort());
      });

      it('removes the temporary file and keeps the target when the rename fails', async () => {
        // A non-empty directory cannot be replaced by a file: the data is written, then the rename fails.
        const target = path.join(dir, 'occupied');
        fs.mkdirSync(target);
        fs.writeFileSync(path.join(target, 'inside'), 'keep');
        let error: NodeJS.ErrnoException | undefined;
        await write(target, 'data').catch((err) => (error = err));
        expect(error?.code).to.be.oneOf(['EISDIR', 'ENOTEMPTY', 'EEXIST', 'EPERM']);
        expect(fs.readdirSync(dir)).to.deep.equal(['occupied']);
        expect(fs.readFileSync(path.join(target, 'inside'), 'utf8')).to.equal('keep');
      });

      it('rejects data of the wrong type before touching the disk', async () => {
        const file = path.join(dir, 'x');
        for (const bad of [42, null, [Buffer.from('a'), 'b'], new Float32Array(2)]) {
          let error: { code?: string } | undefined;
          await write(file, bad as never).catch((err) => (error = err));
          expect(error, String(bad)).to.be.instanceOf(TypeError);
          expect(error?.code).to.equal(ErrorCodes.INVALID_ARG_TYPE);
        }
        expect(fs.readdirSync(dir)).to.deep.equal([]);
      });
    });
  }

  describe('a write that fails midway', () => {
    // A real mid-write failure, with no mocking: a child process whose file-size limit (ulimit -f,
    // in 512-byte blocks) is smaller than the data. Node ignores SIGXFSZ, so the write fails with
    // EFBIG after part of the data reached the temporary file.
    const canLimitFileSize = process.platform !== 'win32' && spawnSync('bash', ['-c', 'ulimit -f 16'], { encoding: 'utf8' }).status === 0;
    const script = (sync: boolean): string => `
      require('ts-node/register');
      const { writeFileAtomic, writeFileAtomicSync } = require(${JSON.stringify(path.resolve(__dirname, '../lib/train/atomic'))});
      const data = [Buffer.alloc(4096, 1), Buffer.alloc(1 << 20, 2)];
      const report = (err) => { console.log(JSON.stringify({ code: err ? err.code : null })); };
      if (${sync}) { try { writeFileAtomicSync(process.argv[1], data); report(null); } catch (err) { report(err); } }
      else writeFileAtomic(process.argv[1], data).then(() => report(null), report);
    `;

    for (const sync of [true, false]) {
      it(`leaves the old file intact and no temporary file (${sync ? 'sync' : 'async'})`, function () {
        if (!canLimitFileSize) this.skip();
        const file = path.join(dir, 'model.safetensors');
        fs.writeFileSync(file, 'the previous checkpoint');
        const child = spawnSync('bash', ['-c', 'ulimit -f 16 && exec "$0" "$@"', process.execPath, '-e', script(sync), file], {
          encoding: 'utf8',
          cwd: path.resolve(__dirname, '..'),
          env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' },
        });
        expect(child.status, child.stderr).to.equal(0);
        expect(JSON.parse(child.stdout.trim())).to.deep.equal({ code: 'EFBIG' });
        expect(fs.readFileSync(file, 'utf8')).to.equal('the previous checkpoint');
        expect(fs.readdirSync(dir)).to.deep.equal(['model.safetensors']);
      });
    }
  });

  it('gives each write its own temporary file, so concurrent writers never mix their data', async () => {
    const file = path.join(dir, 'shared.txt');
    const contents = Array.from({ length: 20 }, (_, i) => `writer ${i} `.repeat(5000));
    await Promise.all(contents.map((c) => writeFileAtomic(file, c)));
    expect(contents).to.include(fs.readFileSync(file, 'utf8'));
    expect(fs.readdirSync(dir)).to.deep.equal(['shared.txt']);
  });
});
