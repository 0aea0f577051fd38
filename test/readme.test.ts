/**
 * The README's usage examples run: every ```ts block that imports from
 * 'fusedoptim' is type-checked and executed against the built package, so no
 * feature exists only in the README. A block may call functions the reader
 * supplies (a model's `backward`); the test defines them as no-ops that fill
 * gradients with small numbers.
 */
import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => code.includes("from 'fusedoptim'"));

/**
 * What the README leaves to the reader, defined so the examples can run: each
 * is prepended only when a block uses the name without defining it. The model
 * is the digits MLP of examples/, small.
 */
const digits = (root: string) => `
import { createMlp as __createMlp } from ${JSON.stringify(path.join(root, 'lib/cli/jobs/digits/mlp'))};
import { epochBatches as __epochBatches, loadDigits as __loadDigits, splitTrainValidation as __split } from ${JSON.stringify(path.join(root, 'lib/cli/jobs/digits/data'))};
const __digits = __split(__loadDigits(), { seed: 0 });
`;
const READER_SUPPLIED: Record<string, { needs?: string[]; code: (root: string) => string }> = {
  __digits: { code: digits },
  model: { needs: ['__digits'], code: () => 'const model = __createMlp({ sizes: [64, 16, 10], seed: 0 });\n' },
  batchesOf: { needs: ['__digits'], code: () => 'const batchesOf = (epoch: number) => __epochBatches(__digits.train, { batchSize: 32, seed: 0, epoch });\n' },
  validationSet: { needs: ['__digits'], code: () => 'const validationSet = __digits.validation;\n' },
  batches: { needs: ['batchesOf'], code: () => 'const batches = [...batchesOf(0)].slice(0, 5);\n' },
  params: { code: () => 'const params = [new Float32Array(1000).fill(0.5), new Float32Array(10)];\n' },
  grads: { needs: ['params'], code: () => 'const grads = params.map((p) => p.map((_, i) => Math.sin(i) * 1e-2));\n' },
  backward: {
    code: () => 'function backward(...t: Float32Array[]): void { for (const g of t.slice(t.length / 2)) for (let i = 0; i < g.length; i++) g[i] = Math.sin(i) * 1e-2; }\n',
  },
  publishWeightsForServing: { code: () => 'function publishWeightsForServing(_params: unknown): void {}\n' },
  skipBatch: { code: () => 'function skipBatch(): void {}\n' },
  averageAcrossWorkers: { code: () => 'function averageAcrossWorkers(_grads: ReadonlyArray<unknown>): void {}\n' },
};

/** The block, with the reader's definitions first and everything but the imports inside an async main. */
function runnable(code: string): string {
  const defined = (name: string) => new RegExp(`(const|let|function|class)\\s+${name}\\b`).test(code);
  const used = (name: string) => new RegExp(`\\b${name}\\b`).test(code);
  const chosen: string[] = [];
  const add = (name: string) => {
    if (chosen.includes(name)) return;
    for (const dep of READER_SUPPLIED[name].needs ?? []) add(dep);
    chosen.push(name);
  };
  for (const name of Object.keys(READER_SUPPLIED)) if (!name.startsWith('__') && used(name) && !defined(name)) add(name);
  const lines = code.split('\n');
  const imports = lines.filter((l) => /^import /.test(l));
  const body = lines.filter((l) => !/^import /.test(l));
  const prelude = chosen.map((name) => READER_SUPPLIED[name].code(root));
  const preludeImports = prelude.join('').split('\n').filter((l) => /^import /.test(l));
  const preludeBody = prelude.join('').split('\n').filter((l) => !/^import /.test(l));
  return [...imports, ...preludeImports, 'async function main(): Promise<void> {', ...preludeBody, ...body, '}', 'main().catch((err) => { console.error(err); process.exit(1); });', ''].join('\n');
}

describe('README examples', () => {
  it('has examples to run', () => {
    expect(blocks.length).to.be.greaterThan(0);
  });

  blocks.forEach((code, i) => {
    it(`example ${i + 1} type-checks and runs`, function () {
      this.timeout(120000);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-readme-'));
      try {
        const file = path.join(dir, `example${i + 1}.ts`);
        fs.writeFileSync(file, runnable(code));
        // Resolve 'fusedoptim' to this checkout, as an installed package would be.
        fs.mkdirSync(path.join(dir, 'node_modules'));
        fs.symlinkSync(root, path.join(dir, 'node_modules', 'fusedoptim'), 'dir');
        // The fusedoptim/tfjs example imports TensorFlow.js (dev dependencies here), as its reader would have it installed.
        const tfjs = path.join(root, 'node_modules', '@tensorflow');
        if (fs.existsSync(tfjs)) fs.symlinkSync(tfjs, path.join(dir, 'node_modules', '@tensorflow'), 'dir');
        execFileSync(process.execPath, [require.resolve('ts-node/dist/bin'), '--compilerOptions', '{"module":"commonjs","strict":true,"types":["node"]}', file], {
          cwd: dir,
          encoding: 'utf8',
          stdio: 'pipe',
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
