/**
 * docs/newcomer-notes.md (issue 24): every ```ts block type-checks in strict
 * mode and runs against the built package; each asserts what the text around
 * it claims (a NaN gradient under maxGradNorm, the pre-hook helper's type,
 * stateSize before the first step).
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { runTypeScriptSample } from './helpers/samples';

const notes = fs.readFileSync(path.join(__dirname, '..', 'docs', 'newcomer-notes.md'), 'utf8');
const blocks = [...notes.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);

describe('docs/newcomer-notes.md', () => {
  it('has its three samples: clipping and NaN, the pre-hook helper, the state size', () => {
    expect(blocks.map((b) => /maxGradNorm: 1, skipIfNonfinite|registerStepPreHook|stateSize\(\)/.exec(b)?.[0])).to.deep.equal([
      'maxGradNorm: 1, skipIfNonfinite',
      'registerStepPreHook',
      'stateSize()',
    ]);
  });

  blocks.forEach((code, i) => {
    it(`sample ${i + 1} type-checks and runs`, function () {
      this.timeout(120_000);
      runTypeScriptSample(code, `notes${i + 1}`);
    });
  });
});
