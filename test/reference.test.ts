/**
 * The textbook's own check: minimise 0.5·‖Ax − b‖² from x = 0 with each of its
 * seven optimizer configurations for 1000 steps in float64, and compare with
 * the losses its NumPy code really produced (data/reference/seed_quadratic.json,
 * with A and b in it). The problem and the configurations are the ones
 * `npm run compare` uses (lib/cli/jobs/compare/least_squares.ts).
 */
import { expect } from 'chai';
import { LeastSquares, TEXTBOOK_CONFIGS, loadQuadraticReference } from '../lib/cli/jobs/compare/least_squares';

const ref = loadQuadraticReference() as ReturnType<typeof loadQuadraticReference> & {
  optimizers: Array<{ loss_after_step: Record<string, number> }>;
};
const problem = new LeastSquares(ref.A, ref.b);

describe('textbook least-squares reference (seed_quadratic.json)', () => {
  it('has the seven configurations', () => {
    expect(ref.optimizers.map((o) => o.name)).to.deep.equal(Object.keys(TEXTBOOK_CONFIGS));
  });

  for (const expected of ref.optimizers) {
    for (const backend of ['native', 'js'] as const) {
      it(`${expected.name} (${backend}) reaches the NumPy losses`, () => {
        const x = new Float64Array(problem.dimension);
        const opt = TEXTBOOK_CONFIGS[expected.name](x, { backend });
        expect(opt.backend).to.equal(backend);
        const grad = new Float64Array(problem.dimension);
        const losses: number[] = [];
        for (let step = 0; step < 1000; step++) {
          losses.push(problem.loss(x));
          problem.gradient(x, grad);
          opt.step([grad]);
        }
        // RMSprop at a fixed lr oscillates on this problem, which amplifies rounding differences.
        const tolerance = expected.name === 'RMSprop' ? 1e-4 : 1e-9;
        const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
        expect(relative(losses[999], expected.final_loss), 'final loss (after 999 steps)').to.be.below(tolerance);
        expect(relative(problem.loss(x), expected.loss_after_step['1000']), 'loss after 1000 steps').to.be.below(tolerance);
        // The first steps are where a formula error shows most: they must agree tightly for every optimizer.
        for (const k of [1, 2, 3, 10]) {
          expect(relative(losses[k], expected.losses[k]), `loss after ${k} steps`).to.be.below(1e-12);
        }
      });
    }
  }
});
