/**
 * Interleaved timing. Everything compared in one group is measured in rounds,
 * A B C A B C ..., so that drift on a shared machine (another tenant, the
 * CPU's clock, the page cache) touches every member alike and cancels in the
 * ratios. Each member is warmed up first (state allocated, code optimised,
 * pages touched), then calibrated: a repetition runs the member `inner` times
 * in a row so that one repetition lasts at least `minRepNs` (a 4K-param step
 * takes about a microsecond, too close to the timer's own cost).
 */

export interface Member {
  /** Unique within the group. */
  id: string;
  /** One call of the thing being measured. */
  run: () => void;
  /** Called before each repetition of this member (e.g. to set the thread count); not timed. */
  before?: () => void;
}

export interface RepPolicy {
  /** Untimed calls of each member before measuring (at least 1). */
  warmupCalls: number;
  /** Fixed number of repetitions per member; when undefined, derived from the time budget. */
  reps?: number;
  /** Bounds on the derived repetitions. */
  minReps: number;
  maxReps: number;
  /** Time each member may take in a group, in nanoseconds (for the derived repetitions). */
  budgetNs: number;
  /** A repetition lasts at least this long (calls are batched to get there). */
  minRepNs: number;
}

export interface MemberSamples {
  /** Nanoseconds per call, one value per repetition. */
  perCallNs: number[];
  /** Calls per repetition. */
  inner: number;
}

function now(): bigint {
  return process.hrtime.bigint();
}

/** Nanoseconds one call of `member` takes, from a few calls after warm-up. */
function calibrate(member: Member, policy: RepPolicy): number {
  for (let i = 0; i < Math.max(1, policy.warmupCalls); i++) {
    member.before?.();
    member.run();
  }
  // Time a growing batch until it is long enough to trust.
  let calls = 1;
  for (;;) {
    member.before?.();
    const start = now();
    for (let i = 0; i < calls; i++) member.run();
    const elapsed = Number(now() - start);
    if (elapsed >= policy.minRepNs || calls >= 1 << 20) return elapsed / calls;
    calls *= 4;
  }
}

/** Measures every member in interleaved rounds; returns the samples by member id. */
export function measureInterleaved(members: readonly Member[], policy: RepPolicy): Map<string, MemberSamples> {
  const plan = members.map((member) => {
    const callNs = Math.max(1, calibrate(member, policy));
    const inner = Math.max(1, Math.ceil(policy.minRepNs / callNs));
    const reps =
      policy.reps ??
      Math.min(policy.maxReps, Math.max(policy.minReps, Math.floor(policy.budgetNs / (callNs * inner))));
    return { member, inner, reps, samples: [] as number[] };
  });
  const rounds = Math.max(...plan.map((p) => p.reps));
  for (let round = 0; round < rounds; round++) {
    for (const p of plan) {
      if (round >= p.reps) continue;
      p.member.before?.();
      const start = now();
      for (let i = 0; i < p.inner; i++) p.member.run();
      p.samples.push(Number(now() - start) / p.inner);
    }
  }
  return new Map(plan.map((p) => [p.member.id, { perCallNs: p.samples, inner: p.inner }]));
}
