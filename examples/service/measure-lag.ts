/**
 * Measures how responsive a process stays while it trains.
 *
 * 1. The example service (server.ts) in a child process, training the digits
 *    model with stepAsync and, for comparison, with step(): a client sends one
 *    request at a time (alternately GET /status and POST /predict) to
 *    127.0.0.1 for the whole run, at most MAX_REQUESTS, and records each
 *    latency; the server reports its own event-loop delay.
 * 2. Large optimizer steps (Adam over 16M float32 params) with step() and
 *    with stepAsync(), on 1 and 2 threads, while a 1 ms timer measures the
 *    event-loop delay: the case stepAsync exists for.
 *
 * Run: npx ts-node examples/service/measure-lag.ts   (prints Markdown tables)
 */
import { ChildProcess, spawn } from 'child_process';
import * as http from 'http';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { Adam, alignedFloat32, setNumThreads } from '../../lib';

const MAX_REQUESTS = 5000;
const EPOCHS = 30;
const LARGE = 16 * 1024 * 1024;
const LARGE_STEPS = 10;

const ms = (ns: number) => (ns / 1e6).toFixed(1);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function request(url: string, method: 'GET' | 'POST', body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function startServer(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'server.ts'), '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`server exited with code ${code} before listening`)));
  });
}

/** A digit from the data set's first rows (a zero), as the 0..16 pixels /predict takes. */
const ZERO = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0];

async function measureService(mode: 'stepAsync' | 'step'): Promise<string> {
  const { child, url } = await startServer(['--epochs', String(EPOCHS), '--threads', '1', ...(mode === 'step' ? ['--sync'] : [])]);
  const latencies: number[] = [];
  let status: { state: string; step: number; eventLoopDelayMs: { p50: number; p99: number; max: number } } | null = null;
  try {
    const predict = JSON.stringify({ pixels: ZERO });
    for (let i = 0; i < MAX_REQUESTS; i++) {
      const t0 = process.hrtime.bigint();
      const res = i % 2 === 0 ? await request(`${url}/status`, 'GET') : await request(`${url}/predict`, 'POST', predict);
      latencies.push(Number(process.hrtime.bigint() - t0));
      if (res.status !== 200) throw new Error(`request ${i}: HTTP ${res.status} ${res.text}`);
      if (i % 2 === 0) {
        const s = JSON.parse(res.text);
        if (s.state !== 'training') break; // only requests answered during training count
        status = s;
      }
    }
  } finally {
    child.kill('SIGTERM');
  }
  latencies.sort((a, b) => a - b);
  const loop = status!.eventLoopDelayMs;
  return (
    `| ${mode} | ${latencies.length} | ${status!.step} | ${ms(percentile(latencies, 50))} | ${ms(percentile(latencies, 99))} | ` +
    `${ms(latencies[latencies.length - 1])} | ${loop.p50} / ${loop.p99} / ${loop.max} |`
  );
}

async function measureLargeStep(mode: 'stepAsync' | 'step', threads: number): Promise<string> {
  setNumThreads(threads);
  const params = [alignedFloat32(LARGE).fill(0.5)];
  const grads = [alignedFloat32(LARGE).fill(0.01)];
  const opt = new Adam(params, { lr: 1e-3 });
  await opt.stepAsync(grads); // allocates the state: not what is measured
  const timer = setInterval(() => {}, 1);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const t0 = process.hrtime.bigint();
  for (let s = 0; s < LARGE_STEPS; s++) {
    if (mode === 'step') opt.step(grads);
    else await opt.stepAsync(grads);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const perStep = Number(process.hrtime.bigint() - t0) / LARGE_STEPS;
  delay.disable();
  clearInterval(timer);
  return `| ${mode} | ${threads} | ${ms(perStep)} | ${ms(delay.percentile(50))} | ${ms(delay.percentile(99))} | ${ms(delay.max)} |`;
}

async function main(): Promise<void> {
  console.log(`## The digits service while it trains (${EPOCHS} epochs, batch 32, optimizer on 1 thread)\n`);
  console.log('| optimizer step | requests during training | steps done | latency p50 (ms) | p99 (ms) | max (ms) | server event-loop delay p50 / p99 / max (ms) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const mode of ['stepAsync', 'step'] as const) console.log(await measureService(mode));
  console.log(`\n## Large steps: Adam over ${LARGE / 2 ** 20}M float32 params, ${LARGE_STEPS} steps\n`);
  console.log('| call | threads | time per step (ms) | event-loop delay p50 (ms) | p99 (ms) | max (ms) |');
  console.log('|---|---|---|---|---|---|');
  for (const [mode, threads] of [['stepAsync', 1], ['stepAsync', 2], ['step', 1], ['step', 2]] as const) {
    console.log(await measureLargeStep(mode, threads));
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
