// An ES module consumer of the fusedoptim/distributed subpath: the "import"
// condition's entry, one instance with the CommonJS build.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as distributed from 'fusedoptim/distributed';

const require = createRequire(import.meta.url);
const cjs = require('fusedoptim/distributed');
let code = null;
try {
  distributed.rank();
} catch (err) {
  code = err.code;
}
const names = Object.keys(cjs).filter((n) => n !== '__esModule').sort();
console.log(
  JSON.stringify({
    entry: fileURLToPath(import.meta.resolve('fusedoptim/distributed')),
    code,
    sameInstance: distributed.DistributedOptimizer === cjs.DistributedOptimizer,
    missingNames: names.filter((n) => !(n in distributed)),
  }),
);
