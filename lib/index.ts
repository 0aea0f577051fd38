/** fusedoptim's public API. */
export { Optimizer, modesOf } from './optim/core/optimizer';
export type {
  AnyOptimizer,
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
  TrainEvalModes,
} from './optim/core/optimizer';
export * from './optim';
export type { StateStorageOptions, StateDtypeOption } from './compact/state_storage';
export type { AdaptiveOptions } from './optim/core/adaptive_terms';
export type { LBFGSParamGroup } from './optim/lbfgs/lbfgs';
export { OPTIMIZERS, findOptimizer } from './optim/registry';
export type { OptimizerEntry, OptimizerCapabilities, OptimizerClass } from './optim/registry';
// What an optimizer declares, as the registry's entries and Optimizer.stateSchema() show it.
export type { OptimizerSpec, StateSchema, StateBufferSpec, StateScalarSpec, KernelChoice, ScalarContext, ParamShape, GroupState, GroupStateSpec } from './optim/core/spec';
export type { OptionRule, OptionRules } from './optim/core/options';
export type { KernelDef, KernelScalars, KernelVariant, SlotRole, ScalarWriter } from './kernels/kernel_def';
export type { Round } from './kernels/round';
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
export type { JsonObject, JsonValue } from './schedulers/state_dict';
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
export { alignedFloat32, alignedFloat64 } from './alloc';
export type { Tensor, DType, StateArray, StateDType } from './tensor';
export { ErrorCodes, FusedOptimTypeError, FusedOptimRangeError, isFusedOptimError } from './errors';
export type { ErrorCode, FusedOptimError } from './errors';
export type { BackendName } from './backend';
export { addonInfo } from './info';
export type { AddonBuild, BuildInfo } from './info';
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
  SafetensorsDtype,
  TensorRead,
} from './train';
