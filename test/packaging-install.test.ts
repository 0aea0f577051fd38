/**
 * Install without a compiler (issue 15): `npm pack` builds the prebuilt addon into the tarball
 * (prepack: scripts/prebuild.js), and the tarball installs into a fresh folder, with install scripts
 * disabled and with no compiler on the PATH, and loads that prebuilt binary. With install scripts
 * enabled (`npm rebuild`), scripts/install.js keeps the prebuilt and compiles nothing.
 * With Open MPI on the machine (issue 23): the tarball's prebuilt MPI addon runs
 * `mpirun -np 2 node script.js` with fusedoptim/distributed after a plain install; without it,
 * ERR_MPI_NOT_AVAILABLE lists the places looked at and the command that fixes it, and
 * `npm rebuild fusedoptim` builds it from source (the whole addon build: minutes on 2 cores).
 *
 * Only on linux-x64, the platform the package ships a binary for. Packing builds the addon once
 * more (about 15 to 60 s on 2 cores).
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { failingBindings, runNodeChild } from './helpers/child';
import { PACK_TIMEOUT_MS, canPack, freshProject, installPacked, npmCli, packOnce } from './helpers/packed';

const ROOT = path.join(__dirname, '..');

describe('the packed tarball installs without a compiler', function () {
  this.timeout(600_000);
  let tarball: string;
  /** The files in the tarball, relative to the package's root. */
  let contents: string[];
  let app: string;
  /** An environment whose PATH holds node and sh, and nothing that compiles. */
  let bare: NodeJS.ProcessEnv;

  before(function () {
    if (!canPack()) this.skip();
    this.timeout(PACK_TIMEOUT_MS);
    ({ tarball, contents } = packOnce());
    const work = path.dirname(tarball);
    expect(contents).to.include('prebuilds/linux-x64/fusedoptim.node');

    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
    bare = { ...process.env, PATH: bin, CC: 'false', CXX: 'false' };
    app = freshProject('app');
  });

  it('ships every file the README links to or shows', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)#\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:/.test(t));
    expect(targets.length).to.be.greaterThan(0);
    expect(targets.filter((t) => !contents.includes(t)), 'linked but not in the package').to.deep.equal([]);
  });

  it('installs with scripts disabled and no compiler on the PATH, and loads the prebuilt addon', () => {
    const npm = (...args: string[]) => execFileSync(process.execPath, [npmCli(), ...args], { cwd: app, env: bare, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    installPacked(app, bare);
    const installed = path.join(app, 'node_modules', 'fusedoptim');
    expect(fs.existsSync(path.join(installed, 'build')), 'nothing was built').to.equal(false);
    expect(fs.existsSync(path.join(installed, 'node_modules', 'node-gyp')), 'node-gyp is no runtime dependency').to.equal(false);

    const script = [
      "const { Adam, addonInfo } = require('fusedoptim');",
      'const params = [Float32Array.of(1, 2, 3)];',
      "new Adam(params, { lr: 0.1, backend: 'native' }).step([Float32Array.of(0.5, -0.5, 0.25)]);",
      'console.log(JSON.stringify({ info: addonInfo(), params: Array.from(params[0]) }));',
    ].join('\n');
    const report = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: app, env: bare, encoding: 'utf8' }));
    expect(report.info.build).to.equal('prebuilt');
    expect(report.info.path).to.equal(path.join(fs.realpathSync(installed), 'prebuilds', 'linux-x64', 'fusedoptim.node'));
    expect(report.params).to.have.length(3);
    expect(report.params[0]).to.be.below(1);

    // The README's first commands, from the installed package.
    const cli = (...args: string[]) => execFileSync(process.execPath, [path.join(app, 'node_modules', '.bin', 'fusedoptim'), ...args], { cwd: app, env: bare, encoding: 'utf8' });
    cli('train', '--name', 'first', '--epochs', '1', '--quiet');
    expect(cli('inspect', 'runs/first')).to.match(/^runs\/first\/best\.safetensors: fusedoptim checkpoint/m);

    // The install script, as `npm install` runs it by default: it keeps the prebuilt and compiles nothing.
    const rebuilt = npm('rebuild', 'fusedoptim', '--foreground-scripts');
    expect(rebuilt).to.include('fusedoptim: using the prebuilt addon for linux-x64');
    expect(fs.existsSync(path.join(installed, 'build'))).to.equal(false);
  });

  describe('fusedoptim/distributed from the package (Open MPI on this machine)', () => {
    let installed: string;
    let script: string;
    /** `mpirun -np 2 node allreduce.js` in the app: each rank's report. */
    const runOnTwoRanks = () => {
      const mpirun = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, script], {
        cwd: app,
        // mpirun from its folder; nothing that compiles beside it is asked for (CC, CXX false).
        env: { ...bare, PATH: `${bare.PATH}:${path.dirname(mpirunPath)}`, OMPI_MCA_btl_vader_single_copy_mechanism: 'none' },
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(mpirun.status, mpirun.stderr).to.equal(0);
      return mpirun.stdout.trim().split('\n').map((line) => JSON.parse(line)).sort((a, b) => a.rank - b.rank);
    };
    let mpirunPath: string;

    before(function () {
      const found = spawnSync('sh', ['-c', 'command -v mpirun'], { encoding: 'utf8' });
      if (found.status !== 0 || !contents) this.skip();
      mpirunPath = found.stdout.trim();
      installed = path.join(app, 'node_modules', 'fusedoptim');
      script = path.join(app, 'allreduce.js');
      fs.writeFileSync(
        script,
        [
          "const dist = require('fusedoptim/distributed');",
          'dist.init();',
          'const x = Float64Array.of(dist.rank() + 1);',
          'dist.allReduce([x]);',
          'console.log(JSON.stringify({ rank: dist.rank(), size: dist.size(), sum: x[0] }));',
        ].join('\n'),
      );
    });

    it('ships a prebuilt MPI addon: `mpirun -np 2 node script.js` works with no further command', () => {
      expect(contents).to.include('prebuilds/linux-x64/fusedoptim_mpi.node');
      expect(runOnTwoRanks()).to.deep.equal([
        { rank: 0, size: 2, sum: 3 },
        { rank: 1, size: 2, sum: 3 },
      ]);
      expect(fs.existsSync(path.join(installed, 'build')), 'nothing was built').to.equal(false);
    });

    it('without a loadable MPI addon: ERR_MPI_NOT_AVAILABLE lists every place tried and the command that fixes it', () => {
      fs.rmSync(path.join(installed, 'prebuilds', 'linux-x64', 'fusedoptim_mpi.node'));
      const probe = "try { require('fusedoptim/distributed').init(); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }";
      const err = JSON.parse(execFileSync(process.execPath, ['-e', probe], { cwd: app, env: bare, encoding: 'utf8' }));
      expect(err.code).to.equal('ERR_MPI_NOT_AVAILABLE');
      const root = fs.realpathSync(installed);
      for (const place of ['build/Release', 'build/Debug', 'prebuilds/linux-x64']) expect(err.message).to.include(path.join(root, place, 'fusedoptim_mpi.node'));
      // No mpicxx on this PATH: install MPI, then build.
      expect(err.message).to.include('`apt-get install openmpi-bin libopenmpi-dev && npm rebuild fusedoptim`');
    });

    it('`npm rebuild fusedoptim` builds the MPI addon from source where MPI is installed and no shipped one loads', () => {
      // The whole environment: the compiler and mpicxx on the PATH.
      const rebuilt = execFileSync(process.execPath, [npmCli(), 'rebuild', 'fusedoptim', '--foreground-scripts'], { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(rebuilt).to.match(/fusedoptim: building the addons from source \(the MPI addon does not load here, and MPI is installed/);
      expect(fs.existsSync(path.join(installed, 'build', 'Release', 'fusedoptim_mpi.node'))).to.equal(true);
      expect(runOnTwoRanks().map((r) => r.sum)).to.deep.equal([3, 3]);
    });
  });
});

describe('an addon that cannot be loaded: ERR_ADDON_NOT_LOADED says why and what to do', () => {
  /** The error the library throws in a child process whose `bindings` fails with `message` (and, optionally, the paths it tried). */
  function loadFailure(message: string, tries?: string[]): { code: string; message: string } {
    const script = [
      ...failingBindings(message, tries ? { tries } : {}),
      "try { require('./lib/native').loadAddon(); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }",
    ].join('\n');
    return JSON.parse(runNodeChild(script).stdout);
  }

  it('a missing OpenMP runtime: install libgomp', () => {
    const err = loadFailure('libgomp.so.1: cannot open shared object file: No such file or directory');
    expect(err.code).to.equal('ERR_ADDON_NOT_LOADED');
    expect(err.message).to.include('(libgomp.so.1: cannot open shared object file');
    expect(err.message).to.include('apt-get install libgomp1');
  });

  it('a C library too old for the prebuilt binary: build from source', () => {
    const err = loadFailure("/lib64/libstdc++.so.6: version `GLIBCXX_3.4.29' not found");
    expect(err.message).to.include('needs glibc 2.29 and the C++ runtime of GCC 11 or newer');
    expect(err.message).to.include('npm rebuild fusedoptim');
  });

  it('no addon at all: the paths looked at', () => {
    const err = loadFailure('Could not locate the bindings file.', ['/x/build/Release/fusedoptim.node', '/x/prebuilds/linux-x64/fusedoptim.node']);
    expect(err.message).to.match(/Build it with `npm rebuild fusedoptim`.*Looked for: \/x\/build\/Release\/fusedoptim\.node, \/x\/prebuilds\/linux-x64\/fusedoptim\.node\.$/);
  });
});
