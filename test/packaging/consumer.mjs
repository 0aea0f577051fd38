// An ES module consumer of the built package, resolved through package.json "exports"
// (the "import" condition) by the package's own name. Also checks that import and
// require give one instance of the library (one addon load, one thread setting).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as fusedoptim from 'fusedoptim';
import { Adam, ErrorCodes, getNumThreads, isFusedOptimError, setNumThreads } from 'fusedoptim';

const require = createRequire(import.meta.url);
const cjs = require('fusedoptim');

setNumThreads(1);
const params = [Float32Array.of(1, 2, 3)];
const grads = [Float32Array.of(0.5, -0.5, 0.25)];
const opt = new Adam(params, { lr: 0.1 });
opt.step(grads);
await opt.stepAsync(grads);
let code = null;
try {
  opt.step([new Float32Array(2)]);
} catch (err) {
  code = isFusedOptimError(err) ? err.code : 'not a fusedoptim error';
}
const runtimeNames = Object.keys(cjs).filter((n) => n !== '__esModule').sort();
console.log(
  JSON.stringify({
    entry: fileURLToPath(import.meta.resolve('fusedoptim')),
    params: Array.from(params[0]),
    threads: getNumThreads(),
    code,
    codes: Object.keys(ErrorCodes).length,
    sameInstance: Adam === cjs.Adam && cjs.getNumThreads() === 1,
    missingNames: runtimeNames.filter((n) => !(n in fusedoptim)),
  }),
);
