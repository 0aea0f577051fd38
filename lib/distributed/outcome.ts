/**
 * What a collective's native call reports back (mpi_addon.ts, CollectiveOutcome), turned into
 * the error it means on this rank: the ranks disagreed (ERR_COLLECTIVE_MISMATCH, fingerprint.ts),
 * or a rank this one waited for is gone (ERR_RANK_LOST).
 */
import { ErrorCodes, makeError } from '../errors';
import { throwMismatch } from './fingerprint';
import type { CollectiveOutcome, RankLost } from './mpi_addon';

/** Returns when the collective ran; throws what went wrong otherwise. `sequence` is the collective's number. */
export function settleOutcome(outcome: CollectiveOutcome, me: number, what: string, sequence: number): void {
  if (outcome === undefined) return;
  if (outcome instanceof Float64Array) throwMismatch(outcome, me, what);
  throwRankLost(outcome, me, what, sequence);
}

function throwRankLost(lost: RankLost, me: number, what: string, sequence: number): never {
  throw makeError(
    ErrorCodes.RANK_LOST,
    `fusedoptim/distributed: ${what} (collective #${sequence} on rank ${me}): rank ${lost.lostRank} is gone ` +
      `(its process ${lost.pid} on this machine ended: it died or was killed), and this rank cannot go on without it. ` +
      'What was written before is intact: resume from the last checkpoint, on the ranks left if need be.',
  );
}
