/** fusedoptim's public API. */
export { Optimizer } from './optim/optimizer';
export type {
  Grads,
  OptimizerOptions,
  OptimizerStateDict,
  StateSize,
  ParamGroup,
  ParamGroupInput,
  ParamState,
  ParamsInput,
  StepOptions,
  StepResult,
  StepPreHook,
  StepPreHookResult,
  StepPostHook,
  HookHandle,
} from './optim/optimizer';
export { SGD } from './optim/sgd';
export type { SGDOptions } from './optim/sgd';
export { Adagrad, AdaGrad } from './optim/adagrad';
export type { AdagradOptions } from './optim/adagrad';
export { RMSprop } from './optim/rmsprop';
export type { RMSpropOptions } from './optim/rmsprop';
export { Adam, AdamW } from './optim/adam';
export type { AdamOptions } from './optim/adam';
export { Lion } from './optim/lion';
export type { LionOptions } from './optim/lion';
export { LAMB } from './optim/lamb';
export type { LambOptions } from './optim/lamb';
export { LBFGS } from './optim/lbfgs';
export type { LBFGSOptions, LBFGSClosure, LBFGSAsyncClosure, ClosureResult as LBFGSClosureResult } from './optim/lbfgs';
export { Adamax } from './optim/adamax';
export type { AdamaxOptions } from './optim/adamax';
export { RAdam } from './optim/radam';
export type { RAdamOptions } from './optim/radam';
export { NAdam } from './optim/nadam';
export type { NAdamOptions } from './optim/nadam';
export { Adadelta } from './optim/adadelta';
export type { AdadeltaOptions } from './optim/adadelta';
export { Adafactor } from './optim/adafactor';
export type { AdafactorOptions } from './optim/adafactor';
export { Rprop } from './optim/rprop';
export type { RpropOptions } from './optim/rprop';
export { ASGD } from './optim/asgd';
export type { ASGDOptions } from './optim/asgd';
export {
  LRScheduler,
  StepLR,
  MultiStepLR,
  ConstantLR,
  LinearLR,
  ExponentialLR,
  PolynomialLR,
  CosineAnnealingLR,
  CosineAnnealingWarmRestarts,
  LambdaLR,
  MultiplicativeLR,
  SequentialLR,
  ChainedScheduler,
  ReduceLROnPlateau,
  CyclicLR,
  OneCycleLR,
  WarmupCosineScheduler,
  StepScheduler,
} from './schedulers';
export type {
  ParamGroup as SchedulerParamGroup,
  ResumeOptions,
  SchedulableOptimizer,
  SchedulerStateDict,
  StepLROptions,
  MultiStepLROptions,
  ConstantLROptions,
  LinearLROptions,
  ExponentialLROptions,
  PolynomialLROptions,
  CosineAnnealingLROptions,
  CosineAnnealingWarmRestartsOptions,
  LrLambda,
  LrLambdaOptions,
  SequentialLROptions,
  PlateauMode,
  ReduceLROnPlateauOptions,
  ThresholdMode,
  CyclicLROptions,
  CyclicMode,
  CyclicScaleFn,
  CyclicScaleMode,
  AnnealStrategy,
  OneCycleLROptions,
  StepSchedulerOptions,
  WarmupCosineSchedulerOptions,
} from './schedulers';
export {
  clipGradNorm,
  clipGradNormAsync,
  clipGradValue,
  getTotalNorm,
  gradNormPartial,
  mergeNormPartials,
  finishNorm,
  accumulateGrads,
  hasNonFinite,
} from './clip';
export type { ClipGradNormOptions, NormPartial, TotalNormOptions, UtilityOptions } from './clip';
export { setNumThreads, getNumThreads } from './threads';
export { alignedFloat32, alignedFloat64 } from './tensor';
export type { Tensor, DType, StateArray, StateDType } from './tensor';
export { ErrorCodes, FusedOptimTypeError, FusedOptimRangeError, isFusedOptimError } from './errors';
export type { ErrorCode, FusedOptimError } from './errors';
export type { BackendName } from './backend';
export { addonInfo } from './info';
export { train, saveCheckpoint, saveCheckpointAsync, loadCheckpoint, readCheckpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from './train';
export type {
  AbortSignalLike,
  CallbackResult,
  Checkpoint,
  CheckpointContents,
  CheckpointModel,
  CheckpointOptimizer,
  CheckpointScheduler,
  DataSource,
  EpochInfo,
  History,
  LoadTargets,
  LossAndGrads,
  ProgressMode,
  StepInfo,
  StopReason,
  TextOutput,
  TrainConfig,
  TrainModel,
  TrainResult,
  TrainScheduler,
  TrainingProgress,
} from './train';
