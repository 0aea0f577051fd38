/**
 * Small, dependency-free SVG line charts for training histories (loss curves, learning-rate
 * schedules). The output is a standalone, well-formed SVG document that any browser renders.
 *
 * What it does on purpose: non-finite points are gaps, not zeros (a NaN loss shows as a break in
 * the line); on a log axis non-positive values are gaps too; an isolated point (a one-point
 * series, or a point between two gaps) is drawn as a dot, since a path through one point draws
 * nothing; a constant series gets a y range around its value; all text is escaped.
 */
import { ErrorCodes, makeError } from '../errors';
import { checkArray, checkBoolean, checkNumber, checkObject, checkOptions, describe } from '../validate';

export interface Series {
  /** Shown in the legend. */
  name: string;
  /** The points as [x, y] pairs... */
  points?: ReadonlyArray<readonly [number, number]>;
  /** ...or the y values at x = 0, 1, 2, ... */
  ys?: ArrayLike<number>;
  /** Any SVG colour; by default the next colour of the palette. */
  color?: string;
}

/** A horizontal reference line, e.g. a target loss. */
export interface HLine {
  y: number;
  label?: string;
}

export interface LineChart {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  series: Series[];
  /** Logarithmic y axis (values <= 0 are then skipped). */
  logY?: boolean;
  /** In pixels; default 640. */
  width?: number;
  /** In pixels; default 360. */
  height?: number;
  hLines?: HLine[];
}

export interface MultiPanelOptions {
  /** Panels per row; default: all panels in one row. */
  columns?: number;
  /** A title above all panels. */
  title?: string;
}

const DEFAULT_WIDTH = 640;
const DEFAULT_HEIGHT = 360;
const MIN_SIZE = 160;
const MARGIN = { top: 32, right: 16, bottom: 44, left: 64 };
const FONT_SIZE = 11;
const TITLE_FONT_SIZE = 14;
/** Rough width of one character at FONT_SIZE in a sans-serif font (SVG cannot measure text). */
const CHAR_WIDTH = 6.2;
const TICK_COUNT = 6;
/** Tableau 10: distinguishable colours, in the order matplotlib uses them. */
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const SVG_OPEN = 'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif"';

/** One line chart as a standalone SVG document. */
export function lineChartSvg(chart: LineChart): string {
  const checked = checkChart('chart', chart);
  return svgDocument(checked.width, checked.height, renderChart(checked));
}

/**
 * Several line charts in one SVG document, laid out in rows of `columns` panels (e.g. the loss
 * curves beside the learning-rate schedule in one history.svg).
 */
export function multiPanelSvg(panels: LineChart[], options: MultiPanelOptions = {}): string {
  const charts = checkArray('panels', panels).map((p, i) => checkChart(`panels[${i}]`, p));
  const opts = checkOptions('options', options, ['columns', 'title']);
  const columns =
    opts.columns === undefined ? Math.max(1, charts.length) : checkNumber('options.columns', opts.columns, { integer: true, min: 1 });
  const title = opts.title === undefined ? undefined : checkText('options.title', opts.title);

  const top = title === undefined ? 0 : TITLE_FONT_SIZE + 16;
  const parts: string[] = [];
  let y = top;
  let width = 0;
  for (let row = 0; row * columns < charts.length; row++) {
    const inRow = charts.slice(row * columns, (row + 1) * columns);
    let x = 0;
    for (const chart of inRow) {
      parts.push(`<g transform="translate(${x},${y})">${renderChart(chart)}</g>`);
      x += chart.width;
    }
    width = Math.max(width, x);
    y += Math.max(...inRow.map((c) => c.height));
  }
  width = Math.max(width, MIN_SIZE);
  const height = Math.max(y, top);
  if (title !== undefined) {
    parts.unshift(
      `<text x="${width / 2}" y="${TITLE_FONT_SIZE + 6}" text-anchor="middle" font-size="${TITLE_FONT_SIZE}" font-weight="bold">${escapeXml(title)}</text>`,
    );
  }
  return svgDocument(width, height, parts.join(''));
}

function svgDocument(width: number, height: number, body: string): string {
  return (
    `<svg ${SVG_OPEN} width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-size="${FONT_SIZE}">` +
    `<rect width="100%" height="100%" fill="white"/>${body}</svg>\n`
  );
}

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

interface CheckedSeries {
  name: string;
  /** null when the series was given as ys only: x is then the index. */
  xs: Float64Array | null;
  ys: ArrayLike<number>;
  color: string;
}

interface CheckedChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: CheckedSeries[];
  logY: boolean;
  width: number;
  height: number;
  hLines: HLine[];
}

function checkChart(name: string, chart: unknown): CheckedChart {
  const c = checkOptions(name, checkObject(name, chart), ['title', 'xLabel', 'yLabel', 'series', 'logY', 'width', 'height', 'hLines']);
  const text = (key: string): string => (c[key] === undefined ? '' : checkText(`${name}.${key}`, c[key]));
  const size = (key: string, fallback: number): number =>
    c[key] === undefined ? fallback : checkNumber(`${name}.${key}`, c[key], { min: MIN_SIZE, max: 1e5 });
  const series = checkArray(`${name}.series`, c.series).map((s, i) => checkSeries(`${name}.series[${i}]`, s, i));
  const hLines = c.hLines === undefined ? [] : checkArray(`${name}.hLines`, c.hLines).map((h, i) => checkHLine(`${name}.hLines[${i}]`, h));
  return {
    title: text('title'),
    xLabel: text('xLabel'),
    yLabel: text('yLabel'),
    series,
    logY: c.logY === undefined ? false : checkBoolean(`${name}.logY`, c.logY),
    width: size('width', DEFAULT_WIDTH),
    height: size('height', DEFAULT_HEIGHT),
    hLines,
  };
}

function checkSeries(name: string, value: unknown, index: number): CheckedSeries {
  const s = checkOptions(name, checkObject(name, value), ['name', 'points', 'ys', 'color']);
  const label = checkText(`${name}.name`, s.name);
  const color = s.color === undefined ? PALETTE[index % PALETTE.length] : checkText(`${name}.color`, s.color);
  if ((s.points === undefined) === (s.ys === undefined)) {
    throw makeError(ErrorCodes.INVALID_ARG_VALUE, `${name}: expected exactly one of points or ys`);
  }
  if (s.ys !== undefined) {
    const ys = s.ys as ArrayLike<number>;
    if (!isNumberList(ys)) {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}.ys: expected an array of numbers, got ${describe(s.ys)}`);
    }
    return { name: label, xs: null, ys, color };
  }
  const points = checkArray(`${name}.points`, s.points);
  const xs = new Float64Array(points.length);
  const ys = new Float64Array(points.length);
  points.forEach((p, i) => {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'number' || typeof p[1] !== 'number') {
      throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}.points[${i}]: expected an [x, y] pair of numbers, got ${describe(p)}`);
    }
    xs[i] = p[0];
    ys[i] = p[1];
  });
  return { name: label, xs, ys, color };
}

function checkHLine(name: string, value: unknown): HLine {
  const h = checkOptions(name, checkObject(name, value), ['y', 'label']);
  return {
    y: checkNumber(`${name}.y`, h.y, { allowInfinity: true }),
    label: h.label === undefined ? undefined : checkText(`${name}.label`, h.label),
  };
}

function checkText(name: string, value: unknown): string {
  if (typeof value !== 'string') throw makeError(ErrorCodes.INVALID_ARG_TYPE, `${name}: expected a string, got ${describe(value)}`);
  return value;
}

function isNumberList(value: unknown): value is ArrayLike<number> {
  if (value instanceof Float32Array || value instanceof Float64Array) return true;
  return Array.isArray(value) && value.every((v) => typeof v === 'number');
}

function xAt(series: CheckedSeries, i: number): number {
  return series.xs === null ? i : series.xs[i];
}

// ---------------------------------------------------------------------------------------------
// Scales and ticks
// ---------------------------------------------------------------------------------------------

interface Axis {
  /** Maps a data value to a pixel coordinate. */
  toPixel(value: number): number;
  ticks: number[];
}

/**
 * "Nice" tick values (1, 2 or 5 times a power of ten apart) inside [lo, hi], about `count` of
 * them (Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990).
 */
export function niceTicks(lo: number, hi: number, count = TICK_COUNT): number[] {
  if (!(hi > lo) || !Number.isFinite(hi - lo)) return Number.isFinite(lo) ? [lo] : [];
  const rough = (hi - lo) / Math.max(1, count - 1);
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / magnitude;
  const step = (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * magnitude;
  const ticks: number[] = [];
  // Integer multiples of the step, rounded, so 0.1 * 3 prints as 0.3 and not 0.30000000000000004.
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

/** Ticks for a log axis over [lo, hi] (both > 0): powers of ten, with 2 and 5 between them when the range is short. */
function logTicks(lo: number, hi: number): number[] {
  const first = Math.ceil(Math.log10(lo) - 1e-9);
  const last = Math.floor(Math.log10(hi) + 1e-9);
  if (last - first >= 2) {
    const every = Math.ceil((last - first + 1) / 8); // at most ~8 labelled decades
    const ticks: number[] = [];
    for (let e = first; e <= last; e += every) ticks.push(Number((10 ** e).toPrecision(12)));
    return ticks;
  }
  const ticks: number[] = [];
  for (let e = first - 1; e <= last; e++) {
    for (const m of [1, 2, 5]) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push(v);
    }
  }
  // A range inside one 1-2-5 interval (0.231 to 0.238) has fewer than two such ticks.
  return ticks.length >= 2 ? ticks : niceTicks(lo, hi, 4).filter((v) => v > 0);
}

function linearAxis(lo: number, hi: number, pixelLo: number, pixelHi: number): Axis {
  return {
    toPixel: (v) => pixelLo + ((v - lo) / (hi - lo)) * (pixelHi - pixelLo),
    ticks: niceTicks(lo, hi),
  };
}

function logAxis(lo: number, hi: number, pixelLo: number, pixelHi: number): Axis {
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  return {
    toPixel: (v) => pixelLo + ((Math.log10(v) - a) / (b - a)) * (pixelHi - pixelLo),
    ticks: logTicks(lo, hi),
  };
}

/** A domain that is never empty: a single value v becomes a range around v. */
function widen(lo: number, hi: number, log: boolean): [number, number] {
  if (hi > lo) return [lo, hi];
  if (log) return [lo / 2, hi * 2];
  const half = lo === 0 ? 1 : Math.abs(lo) * 0.1;
  return [lo - half, hi + half];
}

/** Adds a margin of `fraction` of the range on both sides (in log space for a log axis), so lines do not run along the frame. */
function pad(lo: number, hi: number, fraction: number, log: boolean): [number, number] {
  if (log) {
    const f = (hi / lo) ** fraction;
    return [lo / f, hi * f];
  }
  const d = (hi - lo) * fraction;
  return [lo - d, hi + d];
}

/** Short tick labels: 0.001, 250, 1e-5, 2.5e+6. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e5 || abs < 1e-3) {
    const [mantissa, exponent] = v.toExponential().split('e');
    return `${Number(Number(mantissa).toPrecision(4))}e${exponent}`;
  }
  return String(Number(v.toPrecision(6)));
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

function isDrawable(x: number, y: number, logY: boolean): boolean {
  return Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);
}

/** Rounds pixel coordinates to 0.01 px: exact enough, and keeps long paths short. */
function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function renderChart(chart: CheckedChart): string {
  const { width, height, logY } = chart;
  const left = MARGIN.left;
  const right = width - MARGIN.right;
  const top = MARGIN.top;
  const bottom = height - MARGIN.bottom;

  // The domain covers every drawable point and every drawable reference line.
  let xLo = Infinity;
  let xHi = -Infinity;
  let yLo = Infinity;
  let yHi = -Infinity;
  for (const s of chart.series) {
    for (let i = 0; i < s.ys.length; i++) {
      const x = xAt(s, i);
      const y = s.ys[i];
      if (!isDrawable(x, y, logY)) continue;
      xLo = Math.min(xLo, x);
      xHi = Math.max(xHi, x);
      yLo = Math.min(yLo, y);
      yHi = Math.max(yHi, y);
    }
  }
  const hLines = chart.hLines.filter((h) => Number.isFinite(h.y) && (!logY || h.y > 0));
  for (const h of hLines) {
    yLo = Math.min(yLo, h.y);
    yHi = Math.max(yHi, h.y);
  }
  const hasData = xLo <= xHi;
  if (!hasData) [xLo, xHi] = [0, 1];
  if (!(yLo <= yHi)) [yLo, yHi] = logY ? [0.1, 10] : [0, 1];
  [xLo, xHi] = widen(xLo, xHi, false);
  [yLo, yHi] = pad(...widen(yLo, yHi, logY), 0.04, logY);

  const xAxis = linearAxis(xLo, xHi, left, right);
  const yAxis = (logY ? logAxis : linearAxis)(yLo, yHi, bottom, top);
  const out: string[] = [];

  // Grid and ticks.
  for (const t of yAxis.ticks) {
    const y = px(yAxis.toPixel(t));
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${left - 6}" y="${y}" dy="0.32em" text-anchor="end">${escapeXml(formatTick(t))}</text>`);
  }
  for (const t of xAxis.ticks) {
    const x = px(xAxis.toPixel(t));
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x}" y="${bottom + 16}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#333"/>`);

  // Labels.
  if (chart.title) {
    out.push(`<text x="${(left + right) / 2}" y="${top - 12}" text-anchor="middle" font-size="${TITLE_FONT_SIZE}" font-weight="bold">${escapeXml(chart.title)}</text>`);
  }
  if (chart.xLabel) out.push(`<text x="${(left + right) / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`);
  if (chart.yLabel) {
    const cy = (top + bottom) / 2;
    out.push(`<text x="14" y="${cy}" text-anchor="middle" transform="rotate(-90 14 ${cy})">${escapeXml(chart.yLabel)}</text>`);
  }
  if (!hasData) out.push(`<text x="${(left + right) / 2}" y="${(top + bottom) / 2}" text-anchor="middle" fill="#999">no data</text>`);

  // Reference lines, then the series on top of them.
  for (const h of hLines) {
    const y = px(yAxis.toPixel(h.y));
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#555" stroke-dasharray="5,4"/>`);
    if (h.label) out.push(`<text x="${right - 4}" y="${y}" dy="-0.4em" text-anchor="end" fill="#555">${escapeXml(h.label)}</text>`);
  }
  const runs = chart.series.map((s) => pixelRuns(s, xAxis, yAxis, logY));
  chart.series.forEach((s, i) => out.push(renderSeries(s.color, runs[i])));

  if (chart.series.length > 0) out.push(renderLegend(chart.series, runs.flat(), { left, right, top, bottom }));
  return out.join('');
}

type Run = Array<[number, number]>;

/** The series in pixels: one run per stretch of drawable points (a gap ends a run). */
function pixelRuns(s: CheckedSeries, xAxis: Axis, yAxis: Axis, logY: boolean): Run[] {
  const runs: Run[] = [];
  let run: Run = [];
  for (let i = 0; i < s.ys.length; i++) {
    const x = xAt(s, i);
    const y = s.ys[i];
    if (isDrawable(x, y, logY)) run.push([xAxis.toPixel(x), yAxis.toPixel(y)]);
    else if (run.length > 0) {
      runs.push(run);
      run = [];
    }
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** A path per run of drawable points; a run of one point is a dot. */
function renderSeries(colour: string, runs: Run[]): string {
  const color = escapeXml(colour);
  const parts = runs.map((run) =>
    run.length === 1
      ? `<circle cx="${px(run[0][0])}" cy="${px(run[0][1])}" r="2.5" fill="${color}"/>`
      : `<path d="M${run.map(([x, y]) => `${px(x)},${px(y)}`).join('L')}" fill="none" stroke="${color}" stroke-width="1.5" stroke-linejoin="round"/>`,
  );
  return `<g>${parts.join('')}</g>`;
}

/** How much of the lines falls inside a box: points sampled every 2 px along every segment. */
function coverage(runs: Run[], box: { x: number; y: number; w: number; h: number }): number {
  const inside = (x: number, y: number) => x >= box.x && x <= box.x + box.w && y >= box.y && y <= box.y + box.h;
  let hits = 0;
  for (const run of runs) {
    if (run.length === 1 && inside(run[0][0], run[0][1])) hits++;
    for (let i = 1; i < run.length; i++) {
      const [x0, y0] = run[i - 1];
      const [x1, y1] = run[i];
      const samples = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / 2));
      for (let k = 0; k <= samples; k++) if (inside(x0 + ((x1 - x0) * k) / samples, y0 + ((y1 - y0) * k) / samples)) hits++;
    }
  }
  return hits;
}

/** The legend, in the corner of the plot area its box covers the least of the lines (top right on a tie). */
function renderLegend(series: CheckedSeries[], runs: Run[], frame: { left: number; right: number; top: number; bottom: number }): string {
  const lineHeight = FONT_SIZE + 5;
  const longest = Math.max(...series.map((s) => s.name.length));
  const boxWidth = 34 + longest * CHAR_WIDTH;
  const boxHeight = series.length * lineHeight + 6;
  const corners = [
    { x: frame.right - boxWidth - 6, y: frame.top + 6 },
    { x: frame.left + 6, y: frame.top + 6 },
    { x: frame.right - boxWidth - 6, y: frame.bottom - boxHeight - 6 },
    { x: frame.left + 6, y: frame.bottom - boxHeight - 6 },
  ];
  const scores = corners.map((c) => coverage(runs, { ...c, w: boxWidth, h: boxHeight }));
  const { x, y } = corners[scores.indexOf(Math.min(...scores))];
  const out = [`<rect x="${px(x)}" y="${px(y)}" width="${px(boxWidth)}" height="${boxHeight}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`];
  series.forEach((s, i) => {
    const cy = px(y + 3 + lineHeight * (i + 0.5));
    out.push(`<line x1="${px(x + 6)}" y1="${cy}" x2="${px(x + 24)}" y2="${cy}" stroke="${escapeXml(s.color)}" stroke-width="2"/>`);
    out.push(`<text x="${px(x + 30)}" y="${cy}" dy="0.32em">${escapeXml(s.name)}</text>`);
  });
  return out.join('');
}

/**
 * Text made safe for XML content and attribute values: the five special characters become
 * entities, and characters XML 1.0 does not allow at all (most control characters, unpaired
 * surrogates) are dropped, since no escape can represent them.
 */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
