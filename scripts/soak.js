#!/usr/bin/env node
// npm run soak -- --minutes N [--seed S]
//
// Trains the digits job (small: one hidden layer of 32, two epochs, last.safetensors every 5
// steps) with `fusedoptim train`, killing it with SIGKILL at random moments and resuming it with
// --resume until it finishes, for N minutes, cycle after cycle. Each cycle's result must equal,
// bit for bit (every tensor, the progress and the history), the same job run without
// interruption; and the peak memory of the processes must stay flat from the first cycle to the
// last. Prints the figures; exits 1 on any difference. Needs the compiled CLI (npm run build:ts).
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'bin', 'fusedoptim.js');
const { readCheckpoint } = require(path.join(root, 'dist', 'lib', 'train', 'checkpoint.js'));

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!(value >= 0)) throw new Error(`--${name}: expected a non-negative number, got ${process.argv[i + 1]}`);
  return value;
}

const minutes = option('minutes', 1);
let seed = option('seed', 1);
// A small xorshift generator: the kill moments follow from the seed.
function random() {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}

const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-soak-'));
const job = (cycle) => ['--runs-dir', runsDir, '--epochs', '2', '--hidden', '32', '--checkpoint-every', '5', '--seed', String(cycle), '--progress', 'none', '--quiet'];

/** Peak resident memory (VmHWM, MiB) of a live process, or 0 where /proc cannot tell. */
function peakRss(pid) {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs `train` until it exits or `killAfterMs` passes; resolves how it ended and its peak RSS. */
function run(args, killAfterMs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'train', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let peak = 0;
    child.stderr.on('data', (d) => (stderr += d));
    const sampler = setInterval(() => (peak = Math.max(peak, peakRss(child.pid))), 100);
    const timer = killAfterMs === null ? null : setTimeout(() => {
      peak = Math.max(peak, peakRss(child.pid));
      child.kill('SIGKILL');
    }, killAfterMs);
    child.on('exit', (code, signal) => {
      clearInterval(sampler);
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stderr, peak });
    });
  });
}

/** Everything a checkpoint says about where training stands: tensors' bytes, progress and history. */
function fingerprint(file) {
  const ck = readCheckpoint(file);
  const tensors = [...ck.tensors.entries()].map(([name, t]) => `${name}:${Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64')}`);
  return JSON.stringify({ tensors, progress: ck.progress, history: ck.history, optimizer: ck.optimizer && ck.optimizer.stateDict.state });
}

async function main() {
  const started = Date.now();
  const deadline = started + minutes * 60_000;
  const figures = { cycles: 0, kills: 0, resumes: 0, steps: 0, peaks: [] };
  let failed = false;
  for (let cycle = 0; cycle === 0 || Date.now() < deadline; cycle++) {
    const reference = await run(['--name', `straight-${cycle}`, ...job(cycle)], null);
    if (reference.code !== 0) throw new Error(`the uninterrupted run failed: ${reference.stderr}`);
    let resume = false;
    const peaks = [reference.peak];
    for (;;) {
      const attempt = await run(['--name', `killed-${cycle}`, ...job(cycle), ...(resume ? ['--resume'] : [])], 300 + Math.floor(random() * 2500));
      peaks.push(attempt.peak);
      if (attempt.code === 0) break;
      if (attempt.signal !== 'SIGKILL') throw new Error(`train failed (${attempt.code ?? attempt.signal}): ${attempt.stderr}`);
      figures.kills++;
      // Killed before its first checkpoint: start afresh; else resume from it.
      resume = fs.existsSync(path.join(runsDir, `killed-${cycle}`, 'last.safetensors'));
      if (resume) figures.resumes++;
      else fs.rmSync(path.join(runsDir, `killed-${cycle}`), { recursive: true, force: true });
    }
    const straight = path.join(runsDir, `straight-${cycle}`, 'last.safetensors');
    const killed = path.join(runsDir, `killed-${cycle}`, 'last.safetensors');
    const same = fingerprint(straight) === fingerprint(killed);
    if (!same) {
      failed = true;
      console.log(`cycle ${cycle}: the run killed and resumed differs from the uninterrupted one`);
    }
    figures.steps += readCheckpoint(killed).progress.globalStep;
    figures.peaks.push(Math.max(...peaks));
    figures.cycles++;
    fs.rmSync(path.join(runsDir, `straight-${cycle}`), { recursive: true, force: true });
    fs.rmSync(path.join(runsDir, `killed-${cycle}`), { recursive: true, force: true });
  }
  fs.rmSync(runsDir, { recursive: true, force: true });
  const [first, last] = [figures.peaks[0], figures.peaks[figures.peaks.length - 1]];
  // Flat: the last cycle's peak within 20% (and 40 MiB) of the first's.
  const flat = last <= first * 1.2 + 40;
  console.log(
    `soak: ${((Date.now() - started) / 60_000).toFixed(1)} min, ${figures.cycles} cycles, ${figures.steps} steps trained, ` +
      `${figures.kills} kills, ${figures.resumes} resumes; every cycle bit-identical to its uninterrupted run: ${!failed}; ` +
      `peak RSS per cycle ${first.toFixed(0)} MiB (first) → ${last.toFixed(0)} MiB (last)${flat ? '' : ': GREW'}`,
  );
  process.exit(failed || !flat ? 1 : 0);
}

main().catch((err) => {
  console.error(`soak: ${err.stack || err}`);
  process.exit(1);
});
