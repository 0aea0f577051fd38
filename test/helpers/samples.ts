/**
 * Runs a documentation sample as its reader would: a TypeScript file in a
 * fresh folder where 'fusedoptim' resolves to this checkout (its built
 * package), type-checked in strict mode by ts-node and executed. Throws with
 * the compiler's or the program's output when either fails.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

export function runTypeScriptSample(code: string, name: string): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-sample-'));
  try {
    const file = path.join(dir, `${name}.ts`);
    fs.writeFileSync(file, code);
    // Resolve 'fusedoptim' to this checkout, as an installed package would be.
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(root, path.join(dir, 'node_modules', 'fusedoptim'), 'dir');
    // A fusedoptim/tfjs sample imports TensorFlow.js (dev dependencies here), as its reader would have it installed.
    const tfjs = path.join(root, 'node_modules', '@tensorflow');
    if (fs.existsSync(tfjs)) fs.symlinkSync(tfjs, path.join(dir, 'node_modules', '@tensorflow'), 'dir');
    // Type-checked even when this process runs transpile-only: the types are part of what a sample shows.
    const { TS_NODE_TRANSPILE_ONLY: _transpileOnly, ...env } = process.env;
    execFileSync(process.execPath, [require.resolve('ts-node/dist/bin'), '--compilerOptions', '{"module":"commonjs","strict":true,"types":["node"]}', file], {
      cwd: dir,
      env,
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
