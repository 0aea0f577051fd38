/** Order statistics of a sample: medians and spread, never means (one slow outlier on a shared machine must not move the figure). */

export interface Summary {
  /** Number of samples. */
  n: number;
  median: number;
  /** 10th and 90th percentiles (nearest rank). */
  p10: number;
  p90: number;
  min: number;
  /** (p90 − p10) / median: the relative spread. */
  spread: number;
}

/** The value at quantile q (0..1) of sorted values, by nearest rank. */
function quantile(sorted: readonly number[], q: number): number {
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[rank];
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('bench: summarize needs at least one sample');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const p10 = quantile(sorted, 0.1);
  const p90 = quantile(sorted, 0.9);
  return { n: sorted.length, median, p10, p90, min: sorted[0], spread: median > 0 ? (p90 - p10) / median : 0 };
}
