#!/usr/bin/env node
// What binding.gyp needs to build the MPI addon (fusedoptim_mpi), asked of the
// MPI compiler wrapper, so that whichever MPI is installed is the one used:
//   node scripts/mpi-flags.js available   'true' when an MPI wrapper answers, else 'false'
//   node scripts/mpi-flags.js compile     its include flags (-I..., -D...)
//   node scripts/mpi-flags.js link        its library flags (-L..., -l..., and an rpath for each -L)
//   node scripts/mpi-flags.js openmpi     'true' when the wrapper is Open MPI's (the prebuilt addon's ABI)
// Open MPI's wrapper answers `--showme:compile` / `--showme:link`; MPICH's
// (and Intel MPI's) only `-show`, whose output is the whole command line, from
// which the -I/-D and -L/-l/-Wl words are picked. MPICXX names another wrapper.
// Without MPI every answer is empty and the addon is simply not built: a plain
// `npm install` works as before.
'use strict';
const { execFileSync } = require('child_process');

const wrapper = process.env.MPICXX || 'mpicxx';
const OPEN_MPI_DIRS = ['/usr/lib64/openmpi/lib', '/usr/lib/openmpi/lib'];

function ask(args) {
  try {
    return execFileSync(wrapper, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(/\s+/).filter(Boolean);
  } catch {
    return null;
  }
}

function flags(kind) {
  const openmpi = ask([kind === 'compile' ? '--showme:compile' : '--showme:link']);
  const words = openmpi ?? (ask(['-show']) ?? []).slice(1);
  const wanted = kind === 'compile' ? /^-[ID]/ : /^(-[Ll]|-Wl,|-pthread$)/;
  // Not the C++ bindings' library (-lmpi_cxx, -lmpichcxx): the addon uses the C API only.
  const picked = words.filter((w) => wanted.test(w) && !/^-lmpi(_cxx|chcxx)$/.test(w));
  if (kind === 'link') {
    // The library directory as an rpath too: an MPI installed outside the loader's
    // paths (/opt/..., a module system) is still found when Node loads the addon.
    for (const w of picked.filter((w) => w.startsWith('-L'))) picked.push(`-Wl,-rpath,${w.slice(2)}`);
    // The prebuilt addon (scripts/prebuild.js) runs on other machines: also where the distributions
    // put Open MPI's libmpi.so.40 outside the loader's paths (Fedora and RHEL, without `module load`).
    if (process.env.FUSEDOPTIM_PREBUILD === '1') for (const dir of OPEN_MPI_DIRS) picked.push(`-Wl,-rpath,${dir}`);
  }
  return picked;
}

const what = process.argv[2];
if (what === 'available') {
  process.stdout.write(ask(['--showme:version']) !== null || ask(['-show']) !== null ? 'true' : 'false');
} else if (what === 'openmpi') {
  process.stdout.write(/Open MPI/.test((ask(['--showme:version']) ?? []).join(' ')) ? 'true' : 'false');
} else if (what === 'compile' || what === 'link') {
  process.stdout.write(flags(what).join(' '));
} else {
  process.stderr.write('usage: mpi-flags.js available|openmpi|compile|link\n');
  process.exit(2);
}
