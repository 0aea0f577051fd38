// Which of the package's own files its entry points load: all three entries,
// required by the package's name. The library must stand without examples/
// and bench/ (sample code and tools, shipped on their own terms).
'use strict';
const path = require('path');

require('fusedoptim');
require('fusedoptim/distributed');
require('fusedoptim/tfjs');
const root = path.dirname(require.resolve('fusedoptim/package.json'));
const files = Object.keys(require.cache)
  .filter((f) => f !== __filename && !path.relative(root, f).startsWith('..') && !f.includes(`${path.sep}node_modules${path.sep}`))
  .map((f) => path.relative(root, f).split(path.sep).join('/'));
console.log(JSON.stringify({ files }));
