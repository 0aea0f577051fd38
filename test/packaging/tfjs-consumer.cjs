// A CommonJS consumer of 'fusedoptim/tfjs' through package.json "exports". Also
// checks that the root import loads no TensorFlow.js (it is an optional peer).
'use strict';
const loadedTf = () => Object.keys(require.cache).filter((f) => f.includes(`${require('path').sep}@tensorflow${require('path').sep}`)).length;

require('fusedoptim');
const tfAfterRoot = loadedTf();
const fused = require('fusedoptim/tfjs');
const tf = require('@tensorflow/tfjs-core');
console.log(
  JSON.stringify({
    entry: require.resolve('fusedoptim/tfjs'),
    tfAfterRoot,
    tfAfterSubpath: loadedTf() > 0,
    isTfOptimizer: fused.adamW({ lr: 1e-3 }) instanceof tf.Optimizer,
    registered: tf.serialization.SerializationMap.getMap().classNameMap.FusedOptimizer?.[0] === fused.FusedOptimizer,
  }),
);
