/**
 * The boundary fuzzer (test/fuzz/) on a fixed seed: the same 1500 calls every run, to every
 * function the addon exports and the public TypeScript entry points, most with one argument
 * wrong, in child processes. No crash, no stall, every refusal a coded error, nothing changed
 * by a call that threw. `npm run fuzz -- --seconds N --seed S` runs longer.
 *
 * And the runner's watchdog: a case that never returns is reported (seed, case, call, replay
 * command) and its child killed; a child that cannot start at all stops the run.
 */
import { expect } from 'chai';
import { fuzz, summary } from './fuzz/run';

describe('fuzzing the native boundary and the public API (fixed seed)', function () {
  this.timeout(600_000);
  it('1500 seeded calls: no crash, no stall, every refusal coded, nothing changed by a call that threw', async () => {
    const figures = await fuzz(1, 0, { cases: 1500 });
    console.log(`      ${summary(figures)}`);
    expect(figures.failures, figures.failures.join('\n')).to.deep.equal([]);
    expect(figures.cases).to.equal(1500);
    expect(figures.refused, 'the fuzzer refused nothing: its malformed calls are not reaching the checks').to.be.greaterThan(500);
  });

  it('the watchdog: a case that never returns is reported with its call and replay command', async () => {
    // Case 0 runs; case 1 spins forever, as a native call that never returns would. (Each fuzz
    // child compiles the library first, seconds on a loaded machine: two children here, the one
    // that stalls and the one that describes the call.)
    const figures = await fuzz(1, 0, { cases: 2, caseSeconds: 3, stallAt: 1 });
    expect(figures.failures).to.have.length(1);
    expect(figures.failures[0]).to.match(/^seed 1 case 1: still running after 3 s \(the watchdog killed it\); the call: \S+\(.*\); replay: npm run fuzz -- --seed 1 --case 1$/);
    expect(figures).to.include({ cases: 2, stalls: 1, crashes: 0 });
  });

  it('a child that cannot start is reported once, not started again and again', async () => {
    const figures = await fuzz(1, 0, { cases: 10, env: { ...process.env, NODE_OPTIONS: '--require ./no-such-module.js' } });
    expect(figures.failures).to.have.length(1);
    expect(figures.failures[0]).to.match(/^seed 1: the fuzz child died before its first case \(exit status 1\)/);
    expect(figures.cases).to.equal(0);
  });
});
