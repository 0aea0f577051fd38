/**
 * The strong-Wolfe line search of LBFGS, as torch.optim.LBFGS runs it (its
 * `_strong_wolfe` and `_cubic_interpolate`, themselves ports of minFunc's and
 * Torch7's lswolfe.lua / polyinterp.lua): bracket a step t along d, then zoom
 * with safeguarded cubic interpolation until
 *
 *   f(x + t·d) <= f(x) + c₁·t·gᵀd        (sufficient decrease, Armijo)
 *   |g(x + t·d)ᵀd| <= −c₂·gᵀd            (curvature, strong form)
 *
 * or the bracket is shorter than toleranceChange (in units of max|d|), or
 * maxLs evaluations were spent. It is a generator: each `yield` asks the
 * caller to run the closure at the params as they are (x + t·d), so the same
 * code serves a synchronous step and an asynchronous one.
 */
import type { Tensor } from '../../tensor';
import type { FlatVectors } from './flat_vectors';

/** The closure's answer at the current params: the loss and the flat gradient. */
export interface Evaluation {
  loss: number;
  flatGrad: Tensor;
}

/** A computation that may ask for evaluations of the closure (yield) before it returns R. */
export type Evaluating<R> = Generator<void, R, Evaluation>;

/**
 * The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2,
 * clamped to `bounds` (default: between x1 and x2); the bounds' midpoint when
 * the cubic has no minimiser.
 */
export function cubicInterpolate(x1: number, f1: number, g1: number, x2: number, f2: number, g2: number, bounds?: [number, number]): number {
  const [lo, hi] = bounds ?? (x1 <= x2 ? [x1, x2] : [x2, x1]);
  // d1 = g1 + g2 − 3(f1 − f2)/(x1 − x2);  d2 = √(d1² − g1·g2)
  const d1 = g1 + g2 - (3 * (f1 - f2)) / (x1 - x2);
  const d2Square = d1 * d1 - g1 * g2;
  if (d2Square >= 0) {
    const d2 = Math.sqrt(d2Square);
    const minPos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)) : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return Math.min(Math.max(minPos, lo), hi);
  }
  return (lo + hi) / 2;
}

export interface LineSearchResult {
  loss: number;
  flatGrad: Tensor;
  t: number;
  evaluations: number;
}

/** One point of a bracket: step, loss, flat gradient, directional derivative. */
interface Point {
  t: number;
  f: number;
  g: Tensor;
  gtd: number;
}

const C1 = 1e-4;
const C2 = 0.9;
const MAX_LS = 25;

/**
 * Searches along d from x (the params now, saved in `x`) starting at step t,
 * where the loss is f, the flat gradient g and gᵀd = gtd. Leaves the params at x.
 */
export function* strongWolfe(
  vectors: FlatVectors,
  x: readonly Tensor[],
  t: number,
  d: Tensor,
  f: number,
  g: Tensor,
  gtd: number,
  toleranceChange: number,
): Evaluating<LineSearchResult> {
  const dNorm = vectors.maxAbs(d);
  // f and g at x + t·d, the params put back to x afterwards.
  function* evaluateAt(step: number): Evaluating<Point> {
    vectors.addToParams(step, d);
    const at = yield;
    vectors.setParams(x);
    return { t: step, f: at.loss, g: at.flatGrad, gtd: vectors.dot(at.flatGrad, d) };
  }

  let next = yield* evaluateAt(t);
  let evaluations = 1;
  let prev: Point = { t: 0, f, g, gtd };
  let bracket: Point[] = [];
  let done = false;
  let lsIter = 0;

  // Bracketing: grow t until an interval holds a point satisfying the conditions.
  while (lsIter < MAX_LS) {
    if (next.f > f + C1 * next.t * gtd || (lsIter > 1 && next.f >= prev.f)) {
      bracket = [prev, next];
      break;
    }
    if (Math.abs(next.gtd) <= -C2 * gtd) {
      bracket = [next];
      done = true;
      break;
    }
    if (next.gtd >= 0) {
      bracket = [prev, next];
      break;
    }
    // Extrapolate: the cubic's minimiser, between 1.01·t and 10·t past the previous point.
    const minStep = next.t + 0.01 * (next.t - prev.t);
    const maxStep = next.t * 10;
    const tNew = cubicInterpolate(prev.t, prev.f, prev.gtd, next.t, next.f, next.gtd, [minStep, maxStep]);
    prev = next;
    next = yield* evaluateAt(tNew);
    evaluations += 1;
    lsIter += 1;
  }
  if (lsIter === MAX_LS) bracket = [{ t: 0, f, g, gtd }, next];

  // Zoom: shrink the bracket until a point satisfies the conditions.
  let insufficientProgress = false;
  let [low, high] = bracket[0].f <= bracket[bracket.length - 1].f ? [0, 1] : [1, 0];
  while (!done && lsIter < MAX_LS) {
    const a = bracket[0], b = bracket[1];
    if (Math.abs(b.t - a.t) * dNorm < toleranceChange) break;
    let tNew = cubicInterpolate(a.t, a.f, a.gtd, b.t, b.f, b.gtd);
    // Keep the trial 10% of the bracket away from its ends once it hugs one of them twice
    // (or lands on or past one), so the bracket keeps shrinking.
    const top = Math.max(a.t, b.t), bottom = Math.min(a.t, b.t);
    const margin = 0.1 * (top - bottom);
    if (Math.min(top - tNew, tNew - bottom) < margin) {
      if (insufficientProgress || tNew >= top || tNew <= bottom) {
        tNew = Math.abs(tNew - top) < Math.abs(tNew - bottom) ? top - margin : bottom + margin;
        insufficientProgress = false;
      } else {
        insufficientProgress = true;
      }
    } else {
      insufficientProgress = false;
    }

    const trial = yield* evaluateAt(tNew);
    evaluations += 1;
    lsIter += 1;
    if (trial.f > f + C1 * trial.t * gtd || trial.f >= bracket[low].f) {
      // No sufficient decrease, or not below the low end: the trial is the new high end.
      bracket[high] = trial;
      [low, high] = bracket[0].f <= bracket[1].f ? [0, 1] : [1, 0];
    } else {
      if (Math.abs(trial.gtd) <= -C2 * gtd) {
        done = true;
      } else if (trial.gtd * (bracket[high].t - bracket[low].t) >= 0) {
        // The old high end becomes the low end.
        bracket[high] = bracket[low];
      }
      bracket[low] = trial;
    }
  }

  const best = bracket[low];
  return { loss: best.f, flatGrad: best.g, t: best.t, evaluations };
}
