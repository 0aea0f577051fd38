/**
 * A checkpoint as fusedoptim wrote it before runs recorded a world-size-independent position:
 * the same file without progress.stepsInEpoch and without the digits job's extra.globalBatch
 * (re-encoded, so its checksum holds).
 */
import * as fs from 'fs';
import { AdamW } from '../../lib/optim/adam';
import { CheckpointScheduler, encodeCheckpoint, readCheckpoint } from '../../lib/train/checkpoint';

export function writeAsOldCheckpoint(file: string, to: string = file): void {
  const ck = readCheckpoint(file);
  const params = ck.params.map((p) => Float32Array.from(p.data as Float32Array));
  const optimizer = new AdamW(params);
  optimizer.loadStateDict(ck.optimizer!.stateDict);
  // The scheduler's saved state, handed back as it was read.
  const scheduler: CheckpointScheduler = { kind: ck.scheduler!.class, stateDict: () => ck.scheduler!.state, loadStateDict: () => undefined };
  const { stepsInEpoch: _steps, ...progress } = ck.progress!;
  const { globalBatch: _batch, ...extra } = ck.extra;
  const shapes = ck.params.map((p) => [...p.shape]);
  const chunks = encodeCheckpoint({ model: { params, paramShapes: shapes, ...(ck.paramNames && { paramNames: ck.paramNames }) }, optimizer, scheduler, progress, history: ck.history, extra });
  fs.writeFileSync(to, Buffer.concat(chunks));
}
