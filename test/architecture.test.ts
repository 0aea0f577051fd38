/**
 * docs/architecture.md kept true: its layout names every file and folder at the top of lib/ and
 * native/ (and nothing that is not there), and every registered optimizer has the pieces its
 * "Adding an optimizer" lists, where it lists them: a kernel header in native/kernels/ with its
 * row in native/dispatch/isa_kernels.cc, the kernel's declaration and twin in lib/kernels/, its
 * class in its own file of lib/optim/, and its line in lib/optim/index.ts.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import type { KernelDef } from '../lib/kernels/kernel_def';
import { OPTIMIZERS } from '../lib/optim/registry';

const ROOT = path.join(__dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const page = read('docs/architecture.md');

/** The names the layout block lists directly under `top` ('lib/' or 'native/'), as written. */
function layoutEntries(top: string): string[] {
  const block = page.slice(page.indexOf('## The layout')).split('```text\n')[1].split('```')[0];
  const lines = block.split('\n');
  const start = lines.findIndex((l) => l.startsWith(top));
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith(' ')) break; // the next top-level entry
    // An entry's names fill the first 24 columns; its description starts at column 24.
    if (!/^ {3}/.test(line)) out.push(...line.slice(0, 24).trim().split(/\s+/));
  }
  return out;
}

describe('docs/architecture.md', () => {
  for (const top of ['lib/', 'native/']) {
    it(`the layout lists exactly what is at the top of ${top}`, () => {
      const listed = layoutEntries(top).map((e) => e.replace(/\/$/, ''));
      const actual = fs.readdirSync(path.join(ROOT, top)).filter((e) => !e.startsWith('.'));
      expect([...listed].sort()).to.deep.equal([...actual].sort());
    });
  }

  const kernelFiles = fs.readdirSync(path.join(ROOT, 'lib', 'kernels')).filter((f) => f.endsWith('.ts'));
  const table = read('native/dispatch/isa_kernels.cc');
  const index = read('lib/optim/index.ts');

  for (const entry of OPTIMIZERS.filter((e) => e.spec !== null)) {
    it(`${entry.name}: its kernel, its row, its twin, its class and its line are where "Adding an optimizer" says`, () => {
      const kernel = entry.defaultKernel!;
      // 3. The declaration and twin: a module of lib/kernels/ exports this very KernelDef.
      const twin = kernelFiles.find((f) =>
        Object.values(require(path.join(ROOT, 'lib', 'kernels', f)) as Record<string, unknown>).includes(kernel as KernelDef),
      );
      expect(twin, `lib/kernels/ exports ${kernel.name}`).to.not.equal(undefined);
      // 2. Its row, by name, in the table.
      expect(table, `isa_kernels.cc has the row "${kernel.name}"`).to.match(new RegExp(`row(?:_of)?<[^()]+>\\("${kernel.name}"\\)`));
      // 1. The table includes a header of native/kernels/ that declares the kernel's struct.
      const rowType = new RegExp(`row(?:_of)?<(\\w+)[^()]*>\\("${kernel.name}"\\)`).exec(table)![1];
      const alias = new RegExp(`using ${rowType} = (\\w+)<`).exec(table)?.[1] ?? rowType;
      const headers = [...table.matchAll(/#include "kernels\/(\w+\.h)"/g)].map((m) => m[1]);
      const declaring = headers.filter((h) => new RegExp(`struct ${alias}\\b`).test(read(`native/kernels/${h}`)));
      expect(declaring, `a header of native/kernels/ declares struct ${alias}`).to.have.length(1);
      // 4. The class in its own file of lib/optim/ (or a folder of its own, as LBFGS).
      const line = index.split('\n').find((l) => new RegExp(`\\b${entry.name}\\b`).test(l) && l.startsWith('export'));
      expect(line, `lib/optim/index.ts exports ${entry.name}`).to.not.equal(undefined);
      const module = /from '\.\/([\w/]+)'/.exec(line!)![1];
      expect(fs.existsSync(path.join(ROOT, 'lib', 'optim', `${module}.ts`))).to.equal(true);
      expect((require(path.join(ROOT, 'lib', 'optim', module)) as Record<string, unknown>)[entry.name]).to.equal(entry.class);
    });
  }
});
