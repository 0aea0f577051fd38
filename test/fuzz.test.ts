/**
 * The boundary fuzzer (test/fuzz/) on a fixed seed: the same 1500 calls every run, to every
 * function the addon exports and the public TypeScript entry points, most with one argument
 * wrong, in child processes. No crash, every refusal a coded error, nothing changed by a call
 * that threw. `npm run fuzz -- --seconds N --seed S` runs longer.
 */
import { expect } from 'chai';
import { fuzz, summary } from './fuzz/run';

describe('fuzzing the native boundary and the public API (fixed seed)', function () {
  this.timeout(600_000);
  it('1500 seeded calls: no crash, every refusal coded, nothing changed by a call that threw', () => {
    const figures = fuzz(1, 0, { cases: 1500 });
    console.log(`      ${summary(figures)}`);
    expect(figures.failures, figures.failures.join('\n')).to.deep.equal([]);
    expect(figures.cases).to.equal(1500);
    expect(figures.refused, 'the fuzzer refused nothing: its malformed calls are not reaching the checks').to.be.greaterThan(500);
  });
});
