// A CommonJS consumer of the fusedoptim/distributed subpath, resolved through
// package.json "exports" by the package's name. It does not start MPI: before
// init() a collective throws ERR_MPI_NOT_INITIALIZED (with or without the MPI addon;
// init() itself says ERR_MPI_NOT_AVAILABLE where it was not built).
'use strict';
const distributed = require('fusedoptim/distributed');

let code = null;
try {
  distributed.allReduce([new Float32Array(2)]);
} catch (err) {
  code = err.code;
}
console.log(JSON.stringify({ entry: require.resolve('fusedoptim/distributed'), code, names: Object.keys(distributed).sort() }));
