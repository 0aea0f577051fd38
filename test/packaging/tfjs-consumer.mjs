// An ES module consumer of 'fusedoptim/tfjs' through package.json "exports":
// the "import" condition gives the ES module face of the CommonJS build, one instance.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as fused from 'fusedoptim/tfjs';
import { AdamW } from 'fusedoptim';

const require = createRequire(import.meta.url);
const cjs = require('fusedoptim/tfjs');
const runtimeNames = Object.keys(cjs).filter((n) => n !== '__esModule').sort();
console.log(
  JSON.stringify({
    entry: fileURLToPath(import.meta.resolve('fusedoptim/tfjs')),
    sameInstance: fused.FusedOptimizer === cjs.FusedOptimizer && fused.optimizer(AdamW).optimizerClass === require('fusedoptim').AdamW,
    missingNames: runtimeNames.filter((n) => !(n in fused)),
  }),
);
