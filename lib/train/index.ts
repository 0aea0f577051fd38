/** The training API: the loop, checkpoints, and the pieces they are built from. */
export { train } from './loop';
export type {
  AbortSignalLike,
  CallbackResult,
  DataSource,
  EpochInfo,
  LossAndGrads,
  StepInfo,
  StopReason,
  TrainConfig,
  TrainModel,
  TrainResult,
  TrainScheduler,
} from './loop';
export { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, loadCheckpoint, readCheckpoint, saveCheckpoint, saveCheckpointAsync } from './checkpoint';
export type { Checkpoint, CheckpointContents, CheckpointModel, CheckpointOptimizer, CheckpointScheduler, ErrorFeedbackState, LoadTargets, TrainingProgress } from './checkpoint';
export { emptyHistory } from './history';
export type { History } from './history';
export type { ProgressMode, TextOutput } from './progress';
export { encodeSafetensors, parseSafetensors } from './safetensors';
export type { ParsedSafetensors, SafetensorsDtype, TensorRead, TensorToWrite } from './safetensors';
export { writeFileAtomic, writeFileAtomicSync } from './atomic';
export { lineChartSvg, multiPanelSvg } from './plot';
export type { HLine, LineChart, MultiPanelOptions, Series } from './plot';
