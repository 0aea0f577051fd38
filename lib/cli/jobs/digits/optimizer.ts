/**
 * The digits job's optimizer, any step optimizer of the registry (`fusedoptim train --optimizer`),
 * built from the job's configuration: its lr, and the weight decay and state storage where the
 * optimizer takes them. An optimizer with train/eval modes (Schedule-Free) runs without the job's
 * warmup-cosine schedule and warms up by its own warmupSteps; any other follows the schedule.
 */
import { ErrorCodes, makeError } from '../../../errors';
import type { AnyOptimizer } from '../../../optim/core/optimizer';
import { OPTIMIZERS, OptimizerEntry, findOptimizer } from '../../../optim/registry';
import type { Tensor } from '../../../tensor';
import { describe } from '../../../validate';

/** The optimizers the job can train with: every step optimizer (LBFGS, which needs a closure, is not one). */
export const DIGITS_OPTIMIZERS: readonly string[] = OPTIMIZERS.filter((e) => !e.capabilities.closure).map((e) => e.name);

/** What of the job's configuration the optimizer takes. */
export interface OptimizerSettings {
  optimizer: string;
  peakLr: number;
  weightDecay: number;
  warmupSteps: number;
  stateDtype: string;
}

/** The optimizer named `name` (any case), as the registry spells it; throws naming `where` if the job cannot train with it. */
export function checkOptimizerName(where: string, name: unknown): string {
  const entry = typeof name === 'string' ? findOptimizer(name) : undefined;
  if (entry === undefined || entry.capabilities.closure) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${where}: expected one of ${DIGITS_OPTIMIZERS.join(', ')}, got ${describe(name)}`);
  }
  return entry.name;
}

/** The job's optimizer over `params`, whether it follows the job's schedule, and how to say what it is. */
export function buildOptimizer(settings: OptimizerSettings, params: Tensor[]): { optimizer: AnyOptimizer; scheduled: boolean; description: string } {
  const entry = findOptimizer(settings.optimizer) as OptimizerEntry;
  const takes = (option: string) => entry.spec !== null && option in entry.spec.options;
  if (settings.stateDtype !== 'float32' && !entry.capabilities.compactState) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `--state-dtype ${settings.stateDtype}: ${entry.name} keeps no state that can be stored compactly (the optimizers that can: ${OPTIMIZERS.filter((e) => e.capabilities.compactState).map((e) => e.name).join(', ')})`);
  }
  const scheduled = !entry.capabilities.modes;
  const options: Record<string, unknown> = { lr: settings.peakLr };
  if (takes('weightDecay')) options.weightDecay = settings.weightDecay;
  if (settings.stateDtype !== 'float32') options.stateDtype = settings.stateDtype;
  if (!scheduled) options.warmupSteps = settings.warmupSteps;
  const optimizer = new (entry.class as new (p: Tensor[], o: Record<string, unknown>) => AnyOptimizer)(params, options);
  const description =
    `${entry.name} lr ${settings.peakLr}${takes('weightDecay') ? ` weight decay ${settings.weightDecay}` : ''}` +
    `${settings.stateDtype === 'float32' ? '' : ` ${settings.stateDtype} state`}` +
    (scheduled ? '' : `, no schedule (its own warmup of ${settings.warmupSteps} steps)`);
  return { optimizer, scheduled, description };
}
