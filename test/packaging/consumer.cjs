// A CommonJS consumer of the built package, resolved through package.json "exports"
// (the "require" condition) by the package's own name, as any dependant would.
'use strict';
const fusedoptim = require('fusedoptim');
const { Adam, ErrorCodes, getNumThreads, isFusedOptimError, setNumThreads } = fusedoptim;

async function main() {
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
  return {
    entry: require.resolve('fusedoptim'),
    params: Array.from(params[0]),
    threads: getNumThreads(),
    code,
    codes: Object.keys(ErrorCodes).length,
  };
}

main().then(
  (result) => console.log(JSON.stringify(result)),
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
