/**
 * Interpolations between two values as `pct` goes from 0 to 1, shared by the
 * schedulers that anneal (cosine schedules, OneCycleLR, the textbook's warmup-cosine).
 */

/** Cosine annealing from `start` (pct = 0) to `end` (pct = 1): end + (start − end)/2 · (1 + cos(π·pct)). */
export function cosineAnneal(start: number, end: number, pct: number): number {
  return end + ((start - end) / 2) * (1 + Math.cos(Math.PI * pct));
}

/** Linear annealing from `start` (pct = 0) to `end` (pct = 1): start + (end − start)·pct. */
export function linearAnneal(start: number, end: number, pct: number): number {
  return (end - start) * pct + start;
}
