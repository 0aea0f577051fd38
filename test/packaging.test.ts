/**
 * Packaging (issue 6), checked the way dependants see it: the built package
 * (npm test runs `npm run build:ts` first) imported by its name through the
 * package.json "exports" map from an ES module, a CommonJS module and
 * TypeScript (node16 resolution), each in a child process. publint and
 * @arethetypeswrong/cli run from `npm run check:package` (in CI).
 */
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Adam, getNumThreads, setNumThreads } from '../lib';

const ROOT = path.join(__dirname, '..');
const FIXTURES = path.join(__dirname, 'packaging');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

interface ConsumerReport {
  entry: string;
  params: number[];
  threads: number;
  code: string | null;
  codes: number;
  sameInstance?: boolean;
  missingNames?: string[];
}

function runConsumer(file: string): ConsumerReport {
  const out = execFileSync(process.execPath, [path.join(FIXTURES, file)], { cwd: FIXTURES, encoding: 'utf8' });
  return JSON.parse(out) as ConsumerReport;
}

describe('packaging', function () {
  this.timeout(120_000);

  before(function () {
    for (const target of [pkg.exports['.'].require.default, pkg.exports['.'].import.default]) {
      if (!fs.existsSync(path.join(ROOT, target))) {
        throw new Error(`${target} is missing: build the package first (npm run build:ts; npm test does it)`);
      }
    }
  });

  it('the exports map gives types first, for both import and require, and every file exists', () => {
    const dot = pkg.exports['.'];
    for (const condition of ['import', 'require']) {
      // TypeScript takes the first matching condition: "types" after "default" would never be seen.
      expect(Object.keys(dot[condition]), condition).to.deep.equal(['types', 'default']);
      for (const file of Object.values(dot[condition]) as string[]) {
        expect(fs.existsSync(path.join(ROOT, file)), file).to.equal(true);
      }
    }
    expect(dot.import.types).to.match(/\.d\.mts$/);
    expect(dot.import.default).to.match(/\.mjs$/);
    expect(dot.require.types).to.match(/\.d\.ts$/);
    expect(pkg.main).to.equal(dot.require.default);
    expect(pkg.types).to.equal(dot.require.types);
  });

  describe('consumers in child processes', () => {
    let expected: number[];
    before(() => {
      // What the consumers compute, computed here from the sources.
      const saved = getNumThreads();
      setNumThreads(1);
      const params = [Float32Array.of(1, 2, 3)];
      const grads = [Float32Array.of(0.5, -0.5, 0.25)];
      const opt = new Adam(params, { lr: 0.1 });
      opt.step(grads);
      opt.step(grads);
      expected = Array.from(params[0]);
      setNumThreads(saved);
    });

    it('a .cjs file requires the package and gets the CommonJS build', () => {
      const report = runConsumer('consumer.cjs');
      expect(path.relative(ROOT, report.entry)).to.equal(path.normalize(pkg.exports['.'].require.default));
      expect(report.params).to.deep.equal(expected);
      expect(report.threads).to.equal(1);
      expect(report.code).to.equal('ERR_SHAPE_MISMATCH');
      expect(report.codes).to.be.greaterThan(10);
    });

    it('a .mjs file imports the package by name, gets the ES module entry, and shares one instance with require', () => {
      const report = runConsumer('consumer.mjs');
      expect(path.relative(ROOT, report.entry)).to.equal(path.normalize(pkg.exports['.'].import.default));
      expect(report.params).to.deep.equal(expected);
      expect(report.code).to.equal('ERR_SHAPE_MISMATCH');
      expect(report.sameInstance, 'import and require give the same classes and the same thread setting').to.equal(true);
      expect(report.missingNames, 'runtime exports missing from the ES module').to.deep.equal([]);
    });

    it('fusedoptim/distributed resolves from require and import to its own entries, one instance, throwing coded errors before init()', () => {
      const sub = pkg.exports['./distributed'];
      expect(Object.keys(sub.import)).to.deep.equal(['types', 'default']);
      expect(Object.keys(sub.require)).to.deep.equal(['types', 'default']);
      const cjs = runConsumer('distributed.cjs') as unknown as { entry: string; code: string; names: string[] };
      expect(path.relative(ROOT, cjs.entry)).to.equal(path.normalize(sub.require.default));
      expect(cjs.code).to.equal('ERR_MPI_NOT_INITIALIZED');
      expect(cjs.names).to.include.members(['init', 'rank', 'size', 'allReduce', 'broadcast', 'reduceScatter', 'allGather', 'DistributedOptimizer']);
      const esm = runConsumer('distributed.mjs');
      expect(path.relative(ROOT, esm.entry)).to.equal(path.normalize(sub.import.default));
      expect(esm.code).to.equal('ERR_MPI_NOT_INITIALIZED');
      expect(esm.sameInstance).to.equal(true);
      expect(esm.missingNames).to.deep.equal([]);
    });

    it('the entries load only the library: nothing from examples/ or bench/', () => {
      const { files } = runConsumer('loaded-files.cjs') as unknown as { files: string[] };
      // Non-vacuous: the distributed entry's shard.ts, which shuffles with the seeded generator, was loaded.
      expect(files).to.include.members(['dist/lib/distributed/shard.js', 'dist/lib/seeded_rng.js']);
      expect(files.filter((f) => /(^|\/)(examples|bench)\//.test(f))).to.deep.equal([]);
    });

    it('TypeScript files (.ts and .mts) type-check against the built declarations with node16 resolution', () => {
      const tsc = require.resolve('typescript/bin/tsc');
      let output = '';
      try {
        execFileSync(process.execPath, [tsc, '-p', path.join(FIXTURES, 'tsconfig.json')], { cwd: ROOT, encoding: 'utf8' });
      } catch (err) {
        output = String((err as { stdout?: string }).stdout ?? err);
      }
      // The fixtures hold @ts-expect-error lines: if the declarations were missing or `any`,
      // those would be unused and this would fail too.
      expect(output, 'tsc output').to.equal('');
    });
  });
});
