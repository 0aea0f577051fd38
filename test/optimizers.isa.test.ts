/**
 * Every instruction-set path computes the same bits. The kernels are compiled
 * three times (AVX-512, AVX2+FMA, plain x86-64) and one is chosen at load;
 * FUSEDOPTIM_ISA forces a lower one, so each path runs in its own child
 * process and prints fingerprints of a training run, which must equal each
 * other and the JavaScript reference's.
 *
 * And the build check behind that promise: no weak symbol of a kernel library
 * lives outside its own ISA namespace, so the linker can never merge, say, an
 * AVX-512 instantiation of a std:: template into the baseline path (the
 * classic SIGILL on an older CPU).
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { loadAddon } from '../lib/native';
import { REPO_ROOT, describeExit, runNodeChild } from './helpers/child';
import { trainingFingerprints } from './helpers/fingerprint';

const ISAS = ['baseline', 'avx2', 'avx512'] as const;
type Isa = (typeof ISAS)[number];

/** Which ISA paths this CPU can run (the dispatcher's own rule), from /proc/cpuinfo; null where that is unavailable. */
function supportedIsas(): Set<Isa> | null {
  let text: string;
  try {
    text = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
  const flagsLine = text.split('\n').find((l) => l.startsWith('flags'));
  if (!flagsLine) return null;
  const flags = new Set(flagsLine.split(':')[1].trim().split(/\s+/));
  const out = new Set<Isa>(['baseline']);
  if (flags.has('avx2') && flags.has('fma')) out.add('avx2');
  if (['avx512f', 'avx512vl', 'avx512bw', 'avx512dq'].every((f) => flags.has(f))) out.add('avx512');
  return out;
}

describe('optimizers: every instruction-set path gives the same bits', function () {
  const x86 = process.arch === 'x64' || process.arch === 'ia32';
  let reference: Record<string, string>;

  before(function () {
    if (!x86) this.skip(); // only x86 builds carry more than one path
    reference = trainingFingerprints('js');
  });

  for (const isa of ISAS) {
    it(`FUSEDOPTIM_ISA=${isa} (2 threads) matches the JavaScript reference`, function () {
      const supported = supportedIsas();
      if (supported && !supported.has(isa)) this.skip(); // the dispatcher never runs a path the CPU lacks
      const r = runNodeChild(
        `const { loadAddon } = require('./lib/native');
         require('./lib/threads').setNumThreads(2);
         const { trainingFingerprints } = require('./test/helpers/fingerprint');
         console.log(JSON.stringify({ isa: loadAddon().info().isa, fingerprints: trainingFingerprints('native') }));`,
        { env: { FUSEDOPTIM_ISA: isa }, timeoutMs: 120_000 },
      );
      expect(r.status, describeExit(r)).to.equal(0);
      const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { isa: string; fingerprints: Record<string, string> };
      if (supported) expect(result.isa, 'the path that ran').to.equal(isa);
      expect(Object.keys(result.fingerprints)).to.deep.equal(Object.keys(reference));
      for (const [label, hash] of Object.entries(reference)) {
        expect(result.fingerprints[label], `${label} on ${result.isa}`).to.equal(hash);
      }
    });
  }

  it('this process (the default path) matches too', () => {
    expect(ISAS as readonly string[]).to.include(loadAddon().info().isa);
    expect(trainingFingerprints('native')).to.deep.equal(reference);
  });
});

describe('build: the kernel libraries keep their weak symbols in their own namespace', function () {
  const release = path.join(REPO_ROOT, 'build', 'Release');

  /** `nm -C` of a file: [type letter, demangled name] for every defined symbol. */
  function symbols(file: string): Array<[string, string]> {
    const r = spawnSync('nm', ['-C', '--defined-only', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`nm failed on ${file}: ${r.stderr}`);
    return r.stdout
      .split('\n')
      .map((line) => /^(?:[0-9a-fA-F]+\s+)?([A-Za-z])\s+(.+)$/.exec(line.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]] as [string, string]);
  }

  before(function () {
    if (spawnSync('nm', ['--version']).error) this.skip(); // no binutils here
  });

  for (const isa of ISAS) {
    it(`kernels_${isa}.a: every weak (W/V) or unique (u) symbol is in fusedoptim::${isa}::`, function () {
      const lib = path.join(release, `kernels_${isa}.a`);
      if (!fs.existsSync(lib)) this.skip(); // non-x86 builds have only the baseline library
      const all = symbols(lib);
      // Non-vacuous: the library defines this ISA's kernel table.
      expect(all.some(([, name]) => name.includes(`fusedoptim::${isa}::kernel_table()`)), 'kernel_table defined').to.equal(true);
      const mergeable = all.filter(([t]) => t === 'W' || t === 'V' || t === 'u');
      expect(mergeable.length, 'weak symbols found (template instantiations)').to.be.above(0);
      // A symbol that names this ISA's namespace has a mangled name no other path shares;
      // anything else (std::max<float>, a std::vector member, ...) could be merged across paths.
      // DW.ref.__gxx_personality_v0 is data, not code: a pointer to the C++ runtime's one exception
      // personality routine, the same in every path (GCC emits it where a function has a landing pad,
      // as the team's claim loop in drivers/team.h has). Merging it can put no ISA's instruction anywhere.
      const stray = mergeable
        .filter(([, name]) => !name.includes(`fusedoptim::${isa}::`) && name !== 'DW.ref.__gxx_personality_v0')
        .map(([t, name]) => `${t} ${name}`);
      expect(stray, `weak symbols outside fusedoptim::${isa}:: in kernels_${isa}.a`).to.deep.equal([]);
      const foreign = mergeable.filter(([, name]) => ISAS.some((other) => other !== isa && name.includes(`fusedoptim::${other}::`)));
      expect(foreign.map(([, n]) => n), 'symbols naming another path').to.deep.equal([]);
    });
  }
});
