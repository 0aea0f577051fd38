#!/usr/bin/env node
// npm's install step for fusedoptim ("install": "node scripts/install.js || node-gyp rebuild"), also
// what `npm rebuild fusedoptim` runs: exits 0 when the addons the package ships (prebuilds/<platform>-<arch>/)
// serve this machine, so nothing is compiled; exits 1, saying why, when one does not, and the
// install script then builds both from source with node-gyp (npm provides node-gyp to install scripts):
//   - the core addon must load;
//   - the MPI addon (fusedoptim/distributed) must load where an MPI compiler wrapper answers (MPI's
//     development files are installed: the prebuilt one is for Open MPI 3 to 5, and MPICH or another
//     ABI needs a build). Without MPI nothing is built for it, as fusedoptim/distributed is optional.
//
// It asks the library itself (dist/, shipped compiled in the package), so the places the addons are
// looked for are decided once, in lib/native.ts and lib/distributed/mpi_addon.ts. In a clone before
// `npm run build:ts` there is no dist/, and the addons are built from source, as a contributor expects.
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');

const dist = path.join(__dirname, '..', 'dist', 'lib');
const mpiCompiler = () => execFileSync(process.execPath, [path.join(__dirname, 'mpi-flags.js'), 'available'], { encoding: 'utf8' }) === 'true';

function reasonToBuild() {
  let info;
  try {
    info = require(path.join(dist, 'info.js')).addonInfo();
  } catch (err) {
    return String((err && err.message) || err).split('\n')[0];
  }
  if (info.build !== 'prebuilt') return `a local build was found first (${info.path})`;
  console.log(`fusedoptim: using the prebuilt addon for ${process.platform}-${process.arch} (${info.isa} kernels, OpenMP ${info.openmp ? 'on' : 'off'})`);
  try {
    require(path.join(dist, 'distributed', 'mpi_addon.js')).loadMpiAddon();
    console.log('fusedoptim: using the MPI addon found for fusedoptim/distributed');
    return null;
  } catch (err) {
    if (mpiCompiler()) return `the MPI addon does not load here, and MPI is installed: ${String(err.message).split('\n')[0]}`;
    console.log('fusedoptim: no MPI found (mpicxx); fusedoptim/distributed will say what to install if it is used');
    return null;
  }
}

const reason = reasonToBuild();
if (reason === null) process.exit(0);
console.log(`fusedoptim: building the addons from source (${reason})`);
process.exit(1);
