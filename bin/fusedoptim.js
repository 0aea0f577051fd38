#!/usr/bin/env node
// The `fusedoptim` command: runs the compiled CLI (dist/lib/cli/main.js, built by `npm run build:ts`).
'use strict';
const path = require('path');
const fs = require('fs');

const entry = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('fusedoptim: the TypeScript build is missing (dist/). Run `npm run build:ts` (npm install does it).\n');
  process.exit(1);
}
require(entry)
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err) => {
    process.stderr.write(`fusedoptim: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  });
