#!/usr/bin/env node
// npm's install step for fusedoptim ("install": "node scripts/install.js || node-gyp rebuild"):
// exits 0 when the prebuilt addon the package ships (prebuilds/<platform>-<arch>/) loads on this
// machine, so nothing is compiled; exits 1, saying why, when it does not, and the install script
// then builds from source with node-gyp (npm provides node-gyp to install scripts).
//
// It asks the library itself (dist/, shipped compiled in the package), so the place the addon is
// looked for is decided once, in lib/native.ts. In a clone before `npm run build:ts` there is no
// dist/, and the addon is built from source, as a contributor expects.
'use strict';
const path = require('path');

let reason;
try {
  const { addonInfo } = require(path.join(__dirname, '..', 'dist', 'lib', 'info.js'));
  const info = addonInfo();
  if (info.build === 'prebuilt') {
    console.log(`fusedoptim: using the prebuilt addon for ${process.platform}-${process.arch} (${info.isa} kernels, OpenMP ${info.openmp ? 'on' : 'off'})`);
    process.exit(0);
  }
  reason = `a local build was found first (${info.path})`;
} catch (err) {
  reason = String((err && err.message) || err).split('\n')[0];
}
console.log(`fusedoptim: building the addon from source (${reason})`);
process.exit(1);
