/**
 * Every optimizer fusedoptim offers, one line each: the public exports
 * (lib/index.ts re-exports this module) and the registry (registry.ts), which
 * the TF.js bridge, the tests and the benchmark read, come from here.
 * Adding an optimizer: its kernel (native/kernels/<name>.h and its row in
 * native/dispatch/isa_kernels.cc), its JS twin (lib/kernels/<name>.ts), its
 * declaration (lib/optim/<name>.ts), and its line below (docs/architecture.md).
 */
export { SGD, type SGDOptions } from './sgd';
export { Adagrad, AdaGrad, type AdagradOptions } from './adagrad';
export { RMSprop, type RMSpropOptions } from './rmsprop';
export { Adam, AdamW, type AdamOptions } from './adam';
export { Lion, type LionOptions } from './lion';
export { LAMB, type LambOptions } from './lamb';
export { Adamax, type AdamaxOptions } from './adamax';
export { RAdam, type RAdamOptions } from './radam';
export { NAdam, type NAdamOptions } from './nadam';
export { Adadelta, type AdadeltaOptions } from './adadelta';
export { Adafactor, type AdafactorOptions } from './adafactor';
export { Rprop, type RpropOptions } from './rprop';
export { ASGD, type ASGDOptions } from './asgd';
export { AdamWScheduleFree, SGDScheduleFree, ScheduleFreeOptimizer, type AdamWScheduleFreeOptions, type SGDScheduleFreeOptions, type ScheduleOptions } from './schedule_free';
export { LBFGS, type LBFGSOptions, type LBFGSClosure, type LBFGSAsyncClosure, type ClosureResult as LBFGSClosureResult } from './lbfgs/lbfgs';
