#!/usr/bin/env node
// npm's prepack step (`npm run build:prebuilt`): builds the addons once with node-gyp and copies
// them, stripped, to prebuilds/<platform>-<arch>/, where the loaders look after a local build:
//   fusedoptim.node       the core addon (lib/native.ts), Node-API: any Node >= 20
//   fusedoptim_mpi.node   the MPI addon (lib/distributed/mpi_addon.ts), built against Open MPI:
//                         libmpi.so.40, the ABI Open MPI 3.0 to 5.x share, so one binary serves them
// (prebuildify, used before, copies the first .node file of build/Release: with two addons there,
// possibly the wrong one.) Packing where the MPI compiler wrapper is not Open MPI's ships no MPI
// addon, and says so: installs then build it from source where MPI is found (scripts/install.js).
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const out = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const run = (command, args, env = process.env) => execFileSync(command, args, { cwd: root, env, stdio: 'inherit' });
const openMpi = execFileSync(process.execPath, [path.join(__dirname, 'mpi-flags.js'), 'openmpi'], { encoding: 'utf8' }) === 'true';

// FUSEDOPTIM_PREBUILD: the MPI addon also gets the distributions' Open MPI library folders as rpaths (mpi-flags.js).
run(process.execPath, [require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild', '--release', `-Dmpi=${openMpi}`], { ...process.env, FUSEDOPTIM_PREBUILD: '1' });
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const addons = openMpi ? ['fusedoptim.node', 'fusedoptim_mpi.node'] : ['fusedoptim.node'];
for (const name of addons) {
  fs.copyFileSync(path.join(root, 'build', 'Release', name), path.join(out, name));
  if (process.platform === 'linux') run('strip', ['--strip-all', path.join(out, name)]);
}
console.log(`prebuilt ${addons.join(', ')} in ${path.relative(root, out)}`);
if (!openMpi) {
  console.warn('prebuild: no Open MPI compiler wrapper (mpicxx --showme:version): the package ships no prebuilt MPI addon');
}
