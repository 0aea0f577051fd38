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

/** What the README leaves to the reader, defined so the examples can run. */
const READER_SUPPLIED = `
function backward(...tensors: Float32Array[]): void {
  for (const t of tensors.slice(tensors.length / 2)) for (let i = 0; i < t.length; i++) t[i] = Math.sin(i) * 1e-2;
}
`;

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
        const uses = (name: string) => new RegExp(`\\b${name}\\(`).test(code) && !new RegExp(`function ${name}\\b`).test(code);
        fs.writeFileSync(file, code + (uses('backward') ? READER_SUPPLIED : ''));
        // Resolve 'fusedoptim' to this checkout, as an installed package would be.
        fs.mkdirSync(path.join(dir, 'node_modules'));
        fs.symlinkSync(root, path.join(dir, 'node_modules', 'fusedoptim'), 'dir');
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
