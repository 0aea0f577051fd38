/** Waiting in tests for something another process does. */
import * as fs from 'fs';

/** Resolves once `ready()` is true (polled every 50 ms), or rejects after `timeoutMs` naming `what`. */
export async function waitUntil(what: string, ready: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > until) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Whether a process of this machine still runs: it exists (signal 0 tests that without
 * signalling it) and has not ended waiting for its parent to reap it (a zombie, state Z in
 * /proc/<pid>/stat, as mpirun's ranks stay while mpirun sleeps in its kill sequence).
 */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true; // no /proc: existing is all we can tell
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}
