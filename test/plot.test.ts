import { expect } from 'chai';
import { ErrorCodes } from '../lib/errors';
import { escapeXml, formatTick, lineChartSvg, multiPanelSvg, niceTicks } from '../lib/train/plot';
import { Element, all, parseXml, texts } from './helpers/xml';

function pathPoints(p: Element): number[][] {
  return p.attributes.d
    .slice(1)
    .split('L')
    .map((xy) => xy.split(',').map(Number));
}

describe('SVG line charts', () => {
  describe('the checker itself', () => {
    it('rejects what is not well-formed', () => {
      for (const bad of ['<a>', '<a></b>', '<a x="1" x="2"/>', '<a>&</a>', '<a>x<y</a>', '<a x="<"/>', '<a/><b/>', '<a x=1/>', '<a>\u0001</a>']) {
        expect(() => parseXml(bad), bad).to.throw();
      }
      expect(parseXml('<a x="&amp;&#60;"><b/>t</a>').children).to.have.length(1);
    });
  });

  it('draws a chart with title, axis labels, ticks, a legend and one path per series', () => {
    const svg = lineChartSvg({
      title: 'Loss',
      xLabel: 'step',
      yLabel: 'loss',
      series: [
        { name: 'train', points: [[0, 2.3], [10, 1.1], [20, 0.6], [30, 0.4]] },
        { name: 'validation', ys: [2.2, 1.3, 0.9] },
      ],
    });
    const root = parseXml(svg);
    expect(root.name).to.equal('svg');
    expect(root.attributes.xmlns).to.equal('http://www.w3.org/2000/svg');
    expect(root.attributes.width).to.equal('640');
    const labels = texts(root);
    expect(labels).to.include.members(['Loss', 'step', 'loss', 'train', 'validation']);
    expect(labels).to.include.members(['0', '10', '20', '30']); // x ticks
    const paths = all(root, 'path');
    expect(paths).to.have.length(2);
    expect(pathPoints(paths[0])).to.have.length(4);
    expect(paths[0].attributes.stroke).to.not.equal(paths[1].attributes.stroke);
  });

  it('puts the legend in the corner where it covers no line (an accuracy curve rising to the top right, a loss falling to the bottom right)', () => {
    const rising = Array.from({ length: 20 }, (_, i) => 0.8 + 0.19 * Math.sqrt(i / 19));
    const falling = Array.from({ length: 20 }, (_, i) => 2 * 0.8 ** i);
    for (const ys of [rising, falling, rising.map((y, i) => (i < 10 ? y : 1.6 - y))]) {
      const root = parseXml(lineChartSvg({ series: [{ name: 'validation accuracy', ys }, { name: 'another line', ys: ys.map((y) => y * 0.99) }] }));
      const box = all(root, 'rect').find((r) => r.attributes.stroke === '#ccc')!;
      const [x, y, w, h] = ['x', 'y', 'width', 'height'].map((k) => Number(box.attributes[k]));
      const covered = all(root, 'path').flatMap(pathPoints).filter(([px, py]) => px >= x && px <= x + w && py >= y && py <= y + h);
      expect(covered, `legend at ${x},${y}`).to.deep.equal([]);
    }
  });

  it('escapes <, &, >, quotes and apostrophes everywhere, and drops characters XML cannot hold', () => {
    const nasty = `a<b & c>"d" 'e'\u0000\u0007\uD800`;
    const svg = lineChartSvg({
      title: nasty,
      xLabel: nasty,
      yLabel: nasty,
      series: [{ name: nasty, ys: [1, 2], color: 'red" onload="alert(1)' }],
      hLines: [{ y: 1.5, label: nasty }],
    });
    const root = parseXml(svg);
    const clean = `a<b & c>"d" 'e'`;
    expect(texts(root).filter((t) => t === clean)).to.have.length(5);
    expect(svg).to.not.include('onload="');
    expect(escapeXml('<&>"\'')).to.equal('&lt;&amp;&gt;&quot;&apos;');
    expect(escapeXml('emoji \u{1F600} stays')).to.equal('emoji \u{1F600} stays');
  });

  it('leaves gaps at non-finite values instead of drawing them', () => {
    const svg = lineChartSvg({ series: [{ name: 'loss', ys: [3, 2, NaN, 1.5, 1.2, Infinity, 1, 0.9, -Infinity] }] });
    const root = parseXml(svg);
    const paths = all(root, 'path');
    expect(paths.map((p) => pathPoints(p).length)).to.deep.equal([2, 2, 2]);
    expect(svg).to.not.match(/NaN|Infinity/);
  });

  it('on a log axis skips values <= 0, and labels powers of ten', () => {
    const svg = lineChartSvg({ logY: true, series: [{ name: 'lr', ys: [1e-1, 1e-2, 0, -1, 1e-3, 1e-4, 1e-5] }] });
    const root = parseXml(svg);
    expect(all(root, 'path').map((p) => pathPoints(p).length)).to.deep.equal([2, 3]);
    expect(texts(root)).to.include.members(['0.1', '0.01', '0.001', '1e-4', '1e-5']);
    expect(svg).to.not.match(/NaN|Infinity/);
  });

  it('on a log axis over less than a decade, still has ticks', () => {
    const root = parseXml(lineChartSvg({ logY: true, series: [{ name: 'loss', ys: [0.231, 0.238, 0.235] }] }));
    const yTicks = all(root, 'text').filter((t) => t.attributes['text-anchor'] === 'end');
    expect(yTicks.length).to.be.greaterThan(1);
  });

  it('draws a single point as a dot, and a constant series as a flat line inside the frame', () => {
    const single = parseXml(lineChartSvg({ series: [{ name: 'one', points: [[5, 0.3]] }] }));
    expect(all(single, 'path')).to.have.length(0);
    expect(all(single, 'circle')).to.have.length(1);
    const isolated = parseXml(lineChartSvg({ series: [{ name: 'gappy', ys: [1, NaN, 2, 3] }] }));
    expect(all(isolated, 'circle')).to.have.length(1);
    expect(all(isolated, 'path')).to.have.length(1);

    const constant = parseXml(lineChartSvg({ height: 300, series: [{ name: 'flat', ys: [0.5, 0.5, 0.5] }] }));
    const ys = pathPoints(all(constant, 'path')[0]).map(([, y]) => y);
    expect(new Set(ys).size).to.equal(1);
    expect(ys[0]).to.be.greaterThan(32).and.lessThan(300 - 44);
    for (const chart of [single, constant]) expect(JSON.stringify(chart)).to.not.match(/NaN|Infinity/);
  });

  it('allows empty series and charts with no data at all', () => {
    const root = parseXml(lineChartSvg({ title: 'nothing yet', series: [{ name: 'loss', ys: [] }, { name: 'nan', ys: [NaN] }] }));
    expect(all(root, 'path')).to.have.length(0);
    expect(texts(root)).to.include('no data');
    parseXml(lineChartSvg({ series: [] }));
    parseXml(lineChartSvg({ series: [], logY: true }));
  });

  it('draws labelled horizontal reference lines and includes them in the y range', () => {
    const root = parseXml(lineChartSvg({ series: [{ name: 'loss', ys: [1, 0.8] }], hLines: [{ y: 0.1, label: 'target' }] }));
    const dashed = all(root, 'line').filter((l) => l.attributes['stroke-dasharray']);
    expect(dashed).to.have.length(1);
    const y = Number(dashed[0].attributes.y1);
    expect(y).to.be.greaterThan(32).and.lessThan(360 - 44);
    expect(texts(root)).to.include('target');
  });

  it('puts several charts side by side in one document', () => {
    const svg = multiPanelSvg(
      [
        { title: 'loss', series: [{ name: 'train', ys: [2, 1] }] },
        { title: 'learning rate', logY: true, width: 400, series: [{ name: 'lr', ys: [0.1, 0.01] }] },
      ],
      { title: 'run 1 & <2>' },
    );
    const root = parseXml(svg);
    expect(root.attributes.width).to.equal('1040');
    const groups = root.children.filter((c) => c.name === 'g');
    expect(groups.map((g) => g.attributes.transform)).to.deep.equal(['translate(0,30)', 'translate(640,30)']);
    expect(texts(root)).to.include.members(['loss', 'learning rate', 'run 1 & <2>']);

    const grid = parseXml(multiPanelSvg([{ series: [] }, { series: [] }, { series: [] }], { columns: 2 }));
    expect(grid.attributes.width).to.equal('1280');
    expect(grid.attributes.height).to.equal('720');
  });

  it('rejects malformed charts with the library\'s argument errors', () => {
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        return (err as { code: string }).code;
      }
      return 'no error';
    };
    expect(code(() => lineChartSvg({ series: [{ name: 'x', ys: [1], points: [[0, 1]] }] }))).to.equal(ErrorCodes.INVALID_ARG_VALUE);
    expect(code(() => lineChartSvg({ series: [{ name: 'x', points: [[0]] as never }] }))).to.equal(ErrorCodes.INVALID_ARG_TYPE);
    expect(code(() => lineChartSvg({ series: [{ name: 'x', ys: ['1'] as never }] }))).to.equal(ErrorCodes.INVALID_ARG_TYPE);
    expect(code(() => lineChartSvg({ series: [], titel: 'typo' } as never))).to.equal(ErrorCodes.INVALID_ARG_VALUE);
    expect(code(() => lineChartSvg({ series: [], width: 10 }))).to.equal(ErrorCodes.OUT_OF_RANGE);
    expect(code(() => multiPanelSvg([], { columns: 0 }))).to.equal(ErrorCodes.OUT_OF_RANGE);
  });

  describe('ticks', () => {
    it('are 1, 2 or 5 times a power of ten apart, inside the range, without rounding noise', () => {
      expect(niceTicks(0, 1)).to.deep.equal([0, 0.2, 0.4, 0.6, 0.8, 1]);
      expect(niceTicks(0, 100)).to.deep.equal([0, 20, 40, 60, 80, 100]);
      expect(niceTicks(0.13, 0.47)).to.deep.equal([0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45]);
      expect(niceTicks(-3, 7)).to.deep.equal([-2, 0, 2, 4, 6]);
      expect(niceTicks(1e-9, 3e-9)).to.deep.equal([1e-9, 1.5e-9, 2e-9, 2.5e-9, 3e-9]);
      expect(niceTicks(5, 5)).to.deep.equal([5]);
    });
    it('print short labels', () => {
      expect([0, 0.3, 250, 1e-4, 2.5e6, -0.001, 123456].map(formatTick)).to.deep.equal(['0', '0.3', '250', '1e-4', '2.5e+6', '-0.001', '1.235e+5']);
    });
  });
});
