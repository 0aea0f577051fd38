/**
 * Smoke test of the benchmark (bench/): one repetition at tiny sizes, so it
 * says nothing about speed and asserts no timing; it checks that every row
 * the matrix promises is produced, that the JSON parses into what the tables
 * and chart are made from, and that the SVG is well-formed.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runBench } from '../bench/main';
import { parseArgs, parseSize } from '../bench/options';
import { markdownReport, chartSvg } from '../bench/report';
import type { BenchResult } from '../bench/results';
import { summarize } from '../bench/stats';
import { WORKLOAD_IDS } from '../bench/workloads';
import { COMPACT_ISAS, COMPACT_STATES } from '../bench/compact';
import { pythonCommand } from '../bench/peers/torch';

/** Every opened tag is closed in order, attributes are quoted: enough to catch a broken document. */
function expectWellFormedXml(text: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(text); m; m = tag.exec(text)) {
    expect(text.slice(last, m.index)).not.to.match(/[<>]/, `stray markup before offset ${m.index}`);
    last = tag.lastIndex;
    const [, closing, name, , selfClosing] = m;
    if (selfClosing) continue;
    if (closing) expect(stack.pop(), `closing </${name}>`).to.equal(name);
    else stack.push(name);
  }
  expect(text.slice(last).trim()).to.equal('');
  expect(stack).to.deep.equal([]);
}

describe('bench', function () {
  // A tiny run, but every workload on two backends: minutes on a loaded 2-core machine.
  this.timeout(600000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-bench-'));
  const json = path.join(dir, 'result.json');
  const svg = path.join(dir, 'chart.svg');
  let result: BenchResult;

  before(async () => {
    const code = await runBench(['--quick', '--sections', 'suite', '--sizes', '16K', '--dtypes', 'float32', '--threads', '1,2', '--reps', '1', '--peers', '--json', json, '--svg', svg, '--quiet']);
    expect(code).to.equal(0);
    result = JSON.parse(fs.readFileSync(json, 'utf8')) as BenchResult;
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes a JSON result with the machine it ran on', () => {
    expect(result.schema).to.equal('fusedoptim-bench/1');
    expect(result.machine.isa).to.be.oneOf(['avx512', 'avx2', 'baseline']);
    expect(result.machine.cores).to.be.at.least(1);
    expect(result.machine.cpu).to.be.a('string').and.not.equal('');
  });

  it('produces a row for every workload, layout, backend and thread count', () => {
    const layouts: Array<[string, number]> = [['one', 16384], ['1000', 16000], ['100x1K', 102400]];
    for (const workload of WORKLOAD_IDS) {
      for (const [layout, params] of layouts) {
        const rows = result.rows.filter(
          (r) => r.workload === workload && r.layout === layout && r.params === params && (r.backend === 'native' || r.backend === 'js'),
        );
        const keys = rows.map((r) => `${r.backend}@${r.threads}`).sort();
        expect(keys, `${workload} ${layout}`).to.deep.equal(['js@1', 'native@1', 'native@2']);
        for (const r of rows) {
          expect(r.reps).to.equal(1);
          expect(r.nsPerParam).to.be.greaterThan(0);
          expect(r.gbPerSecond).to.be.closeTo(r.bytesPerParam / r.nsPerParam, 1e-9 * r.gbPerSecond);
          expect(r.ofProbe, `${workload} ${layout} ${r.backend} ofProbe`).to.be.a('number');
          if (r.backend === 'native') expect(r.ratio, 'native/JS').to.be.a('number');
        }
      }
      for (const probe of ['probe-inplace', 'probe-read']) {
        for (const threads of [1, 2]) {
          expect(result.rows.some((r) => r.workload === probe && r.layout === 'one' && r.threads === threads)).to.equal(true);
        }
      }
    }
  });

  it('counts the bytes each kernel must move (float32 Adam: 28 B/param)', () => {
    const bytes = (w: string) => result.rows.find((r) => r.workload === w)!.bytesPerParam;
    expect(bytes('adam')).to.equal(28);
    expect(bytes('clip+adam')).to.equal(32);
    expect(bytes('sgd')).to.equal(12);
    expect(bytes('global-norm')).to.equal(4);
    expect(bytes('probe-inplace')).to.equal(12);
  });

  it('measures per-call overhead, memory growth and state bytes per param', () => {
    expect(result.overhead.map((o) => o.backend)).to.include.members(['native', 'js']);
    for (const o of result.overhead) expect(o.ns).to.be.greaterThan(0);
    const state = Object.fromEntries(result.memory.map((m) => [m.workload, m.stateBytesPerParam]));
    expect(state).to.deep.equal({
      sgd: 0,
      'sgd-momentum': 4,
      nesterov: 4,
      adagrad: 4,
      rmsprop: 4,
      adam: 8,
      adamw: 8,
      lion: 4,
      lamb: 8,
      adamax: 8,
      radam: 8,
      nadam: 8,
      adadelta: 8,
      rprop: 8,
      asgd: 4,
      // z and the second moment; SGD's z alone.
      adamwschedulefree: 8,
      sgdschedulefree: 4,
      // Over 1M params as one 1024 × 1024 matrix: a float32 per row and per column.
      adafactor: (4 * 2048) / 2 ** 20,
      'adafactor-vector': 4,
      'global-norm': 0,
      'clip+adam': 8,
      // Compact state over 1M params: bfloat16 halves it; 8 bits is a byte per moment, a
      // float32 absmax per 256, and the code maps (1 KiB each, shared) once.
      'adam-bf16': 4,
      'adam-bf16-sr': 4,
      'adam-int8': 2 + (2 * 4) / 256 + (2 * 1024) / 2 ** 20,
      'lion-bf16': 2,
      'lion-bf16-sr': 2,
      'lion-int8': 1 + 4 / 256 + 1024 / 2 ** 20,
    });
    for (const m of result.memory) {
      expect(m.rssGrowth).to.be.a('number');
      expect(m.externalGrowth).to.be.a('number');
    }
  });

  it('runs or skips each peer with a note', () => {
    expect(result.notes.some((n) => /PyTorch/.test(n))).to.equal(true);
    expect(result.notes.some((n) => /TensorFlow\.js/.test(n))).to.equal(true);
    for (const r of result.rows.filter((r) => r.backend.startsWith('tfjs') || r.backend.startsWith('pytorch'))) {
      expect(r.ratio).to.be.a('number');
    }
  });

  it('writes a well-formed SVG chart and a markdown report', () => {
    const text = fs.readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg')).to.equal(true);
    expectWellFormedXml(text);
    expect(chartSvg(result)).to.equal(text);
    const md = markdownReport(result);
    expect(md).to.contain('## fusedoptim benchmark');
    expect(md).to.contain('### Summary');
    expect(md).to.contain('| Adam |');
  });

  it('finds PyTorch through FUSEDOPTIM_TORCH_PYTHON (a command), else FUSEDOPTIM_PYTHON, else python3', () => {
    expect(pythonCommand({ FUSEDOPTIM_TORCH_PYTHON: ' chroot /opt/trixie  python3 ' })).to.deep.equal(['chroot', '/opt/trixie', 'python3']);
    expect(pythonCommand({ FUSEDOPTIM_PYTHON: '/usr/bin/python3' })).to.deep.equal(['/usr/bin/python3']);
    expect(pythonCommand({})).to.deep.equal(['python3']);
  });

  it('parses its flags and rejects bad ones with exit code 2', async () => {
    expect(parseSize('16M')).to.equal(16 * 1024 * 1024);
    expect(parseSize('4K')).to.equal(4096);
    const quick = parseArgs(['--quick', '--no-files']);
    expect(quick.dtypes).to.deep.equal(['float32']);
    expect(quick.json).to.equal(null);
    expect(parseArgs(['--with-64m']).sizes).to.include(64 * 1024 * 1024);
    expect(parseArgs(['--json', 'x/r.json']).svg).to.equal('x/r.svg');
    expect(parseArgs([]).sections).to.deep.equal(['suite', 'compact', 'busy']);
    expect(parseArgs([])).to.include({ compactParams: 16 * 1024 * 1024 });
    expect(parseArgs(['--quick']).busyParams).to.deep.equal([1024 * 1024]);
    expect(parseArgs(['--sizes', '64K,4K']).busyParams).to.deep.equal([4096, 65536]);
    const stderr = process.stderr.write;
    process.stderr.write = () => true;
    try {
      expect(await runBench(['--sizes', 'lots'])).to.equal(2);
      expect(await runBench(['--optimizers', 'no-such-optimizer'])).to.equal(2);
      expect(await runBench(['--frobnicate'])).to.equal(2);
      expect(await runBench(['--sections', 'suite,nap'])).to.equal(2);
    } finally {
      process.stderr.write = stderr;
    }
  });

  it('summarizes samples by median and nearest-rank percentiles', () => {
    const s = summarize([5, 1, 4, 2, 3]);
    expect(s).to.include({ n: 5, median: 3, min: 1, p10: 1, p90: 5 });
    expect(summarize([1, 2]).median).to.equal(1.5);
  });
});

describe('bench sections: compact state and busy machine (16K params, one repetition)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-bench-sections-'));
  const sectionsJson = path.join(dir, 'sections.json');
  let sections: BenchResult;
  before(async function () {
    this.timeout(300000); // three child processes, one per instruction set
    const code = await runBench(['--quick', '--sections', 'compact,busy', '--sizes', '16K', '--threads', '1,2', '--reps', '1', '--no-extras', '--json', sectionsJson, '--svg', path.join(dir, 'sections.svg'), '--quiet']);
    expect(code).to.equal(0);
    sections = JSON.parse(fs.readFileSync(sectionsJson, 'utf8')) as BenchResult;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs nothing else when asked for these sections only', () => {
    expect(sections.rows).to.deep.equal([]);
    expect(sections.overhead).to.deep.equal([]);
  });

  it('compares float32, bfloat16 (nearest and stochastic) and 8-bit AdamW state on each instruction set the CPU runs, or says why not', () => {
    const isas = [...new Set(sections.compact.map((r) => r.isa))];
    expect(isas, 'the baseline path runs everywhere').to.include('baseline');
    expect(isas).to.include(sections.machine.isa);
    for (const isa of COMPACT_ISAS) {
      if (!isas.includes(isa)) expect(sections.notes.some((n) => n.includes(`Compact state on ${isa}`)), isa).to.equal(true);
    }
    const bytes = { float32: 28, bfloat16: 20, 'bfloat16-sr': 20, int8: 12 + 2 * (2 + 8 / 256) };
    for (const isa of isas) {
      for (const threads of [1, 2]) {
        const rows = sections.compact.filter((r) => r.isa === isa && r.threads === threads);
        expect(rows.map((r) => r.state), `${isa} ${threads}T`).to.deep.equal([...COMPACT_STATES]);
        for (const r of rows) {
          expect(r.params).to.equal(16384);
          expect(r.reps).to.equal(1);
          expect(r.bytesPerParam).to.equal(bytes[r.state]);
          expect(r.gbPerSecond).to.be.closeTo(r.bytesPerParam / r.nsPerParam, 1e-9 * r.gbPerSecond);
          expect(r.ofProbe).to.be.greaterThan(0);
          expect(r.ofFloat32).to.be.closeTo(r.nsPerParam / rows[0].nsPerParam, 1e-12);
        }
        expect(rows[0].ofFloat32).to.equal(1);
      }
    }
  });

  it('times the default team against one thread, without and beside a spinning neighbour', () => {
    expect(sections.busy.map((r) => [r.params, r.neighbour])).to.deep.equal([[16384, false], [16384, true]]);
    for (const r of sections.busy) {
      expect(r.team).to.equal(sections.machine.defaultThreads);
      expect(r.ratio).to.be.closeTo(r.teamNsPerParam / r.oneThreadNsPerParam, 1e-12);
      expect(r.meanRatio).to.be.greaterThan(0);
      expect(r.oneThreadNsPerParam).to.be.greaterThan(0);
    }
  });

  it('prints both sections in the report', () => {
    const md = markdownReport(sections);
    expect(md).to.contain('### Compact state');
    expect(md).to.contain('| baseline | 1 | int8 | 16.06 |');
    expect(md).to.contain('### Busy machine');
    expect(md).to.contain('| 16K | spinning on a core |');
  });
});
