/**
 * The 'fusedoptim/tfjs' subpath as dependants see it (issue 14): the built
 * package, resolved by name through package.json "exports" from CommonJS and
 * an ES module in child processes; the root import loads no TensorFlow.js.
 * Skipped when @tensorflow/tfjs-core is not installed.
 */
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const FIXTURES = path.join(__dirname, 'packaging');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

function hasTfjs(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-core');
    return true;
  } catch {
    return false;
  }
}

function run(file: string): Record<string, unknown> {
  return JSON.parse(execFileSync(process.execPath, [path.join(FIXTURES, file)], { cwd: FIXTURES, encoding: 'utf8' }));
}

describe('packaging: fusedoptim/tfjs', function () {
  this.timeout(120_000);

  before(function () {
    if (!hasTfjs()) {
      console.log('    (skipped: @tensorflow/tfjs-core is not installed; npm install --include=dev)');
      this.skip();
    }
    for (const condition of ['require', 'import']) {
      const target = pkg.exports['./tfjs'][condition].default;
      if (!fs.existsSync(path.join(ROOT, target))) throw new Error(`${target} is missing: build the package first (npm run build:ts)`);
    }
  });

  it('is in the exports map, types first, every file there; tfjs-core is an optional peer; node10 finds it through tfjs/package.json', () => {
    const entry = pkg.exports['./tfjs'];
    for (const condition of ['import', 'require']) {
      expect(Object.keys(entry[condition]), condition).to.deep.equal(['types', 'default']);
      for (const file of Object.values(entry[condition]) as string[]) expect(fs.existsSync(path.join(ROOT, file)), file).to.equal(true);
    }
    expect(pkg.peerDependencies['@tensorflow/tfjs-core']).to.be.a('string');
    expect(pkg.peerDependenciesMeta['@tensorflow/tfjs-core'].optional).to.equal(true);
    expect(pkg.dependencies['@tensorflow/tfjs-core']).to.equal(undefined);
    const stub = JSON.parse(fs.readFileSync(path.join(ROOT, 'tfjs', 'package.json'), 'utf8'));
    expect(path.join('tfjs', stub.main)).to.equal(path.normalize(entry.require.default));
    expect(path.join('tfjs', stub.types)).to.equal(path.normalize(entry.require.types));
    expect(pkg.files).to.include('tfjs/package.json');
  });

  it('a .cjs file requires it; requiring the root alone loads no TensorFlow.js', () => {
    const report = run('tfjs-consumer.cjs');
    expect(path.relative(ROOT, report.entry as string)).to.equal(path.normalize(pkg.exports['./tfjs'].require.default));
    expect(report.tfAfterRoot).to.equal(0);
    expect(report.tfAfterSubpath).to.equal(true);
    expect(report.isTfOptimizer).to.equal(true);
    expect(report.registered, 'registered with tf.serialization').to.equal(true);
  });

  it('a .mjs file imports it and shares one instance with require', () => {
    const report = run('tfjs-consumer.mjs');
    expect(path.relative(ROOT, report.entry as string)).to.equal(path.normalize(pkg.exports['./tfjs'].import.default));
    expect(report.sameInstance).to.equal(true);
    expect(report.missingNames).to.deep.equal([]);
  });
});
