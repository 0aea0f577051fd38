/**
 * Running code in a separate Node process: for inputs that might crash or
 * abort the process (a test that survives them proves nothing if it died with
 * them), and for settings fixed at load such as FUSEDOPTIM_ISA.
 *
 * The script is CommonJS JavaScript run from the repository root with
 * ts-node's require hook, so it can `require('./lib')` and
 * `require('./test/helpers/bits')` straight from the TypeScript sources.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as path from 'path';

/** The repository root (the directory holding package.json). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export interface ChildResult {
  /** The exit code, or null if a signal ended the process. */
  status: number | null;
  /** The signal that ended the process (SIGSEGV, SIGABRT, ...), or null. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ChildOptions {
  /** Variables added to (or, when undefined, removed from) this process's environment. */
  env?: Record<string, string | undefined>;
  /** Kill the child after this long (default 60 s). */
  timeoutMs?: number;
  /** Extra node flags, e.g. ['--expose-gc']. */
  nodeFlags?: string[];
  /**
   * Caps the child's virtual memory (ulimit -v, in MiB; POSIX shells only), so
   * an input that makes the addon try to allocate tens of gigabytes fails in
   * the child instead of pushing the whole machine into swap or the OOM killer.
   */
  memoryLimitMiB?: number;
}

/** Runs `script` in a new Node process and waits for it. */
export function runNodeChild(script: string, options: ChildOptions = {}): ChildResult {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  // Type-checking is the main test run's job; the child only needs the code.
  const args = [...(options.nodeFlags ?? []), '-r', 'ts-node/register/transpile-only', '-e', script];
  const spawnOptions = { cwd: REPO_ROOT, env, encoding: 'utf8' as const, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 };
  // Under AddressSanitizer (npm run test:sanitize) a virtual-memory cap cannot work (its shadow
  // memory alone reserves terabytes): its allocator takes the same cap instead.
  const asan = /libasan/.test(process.env.LD_PRELOAD ?? '');
  if (asan && options.memoryLimitMiB !== undefined) {
    env.ASAN_OPTIONS = `${env.ASAN_OPTIONS ?? ''}:max_allocation_size_mb=${Math.floor(options.memoryLimitMiB)}:allocator_may_return_null=1`;
  }
  const result =
    options.memoryLimitMiB === undefined || asan
      ? spawnSync(process.execPath, args, spawnOptions)
      : spawnSync('/bin/sh', ['-c', `ulimit -v ${Math.floor(options.memoryLimitMiB * 1024)} && exec "$0" "$@"`, process.execPath, ...args], spawnOptions);
  if (result.error) throw result.error;
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Runs a command without blocking the event loop (so a test's signal handlers still run while
 * it waits), collecting its output; killed with SIGKILL after `timeoutMs`.
 */
export function runCommand(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<ChildResult> {
  return startCommand(command, args, options).result;
}

/** A command started by startCommand: the process, its output so far, and how it ends. */
export interface StartedCommand {
  child: ChildProcess;
  /** The output so far. */
  output(): { stdout: string; stderr: string };
  result: Promise<ChildResult>;
}

/** runCommand that hands back the process while it runs (to signal it, or read its output so far). */
export function startCommand(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs: number }): StartedCommand {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: options.env ?? process.env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const result = new Promise<ChildResult>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
  return { child, output: () => ({ stdout, stderr }), result };
}

/** A one-line account of how a child ended, for assertion messages. */
export function describeExit(r: ChildResult): string {
  const how = r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
  return `${how}; stderr: ${r.stderr.trim().slice(-2000) || '(empty)'}`;
}

/**
 * The first lines of a child's script in which `bindings` throws an Error with `message`
 * (and the other `fields`, such as the paths it tried) for every addon: what it throws when an
 * addon was never built. The library, loaded after them, fails to load its addon as it would;
 * in a child, since an addon once loaded cannot be unloaded from this process.
 */
export function failingBindings(message: string, fields: object = {}): string[] {
  return [
    "const Module = require('module');",
    'const load = Module._load;',
    'Module._load = function (request, ...rest) {',
    `  if (request === 'bindings') return () => { throw Object.assign(new Error(${JSON.stringify(message)}), ${JSON.stringify(fields)}); };`,
    '  return load.call(this, request, ...rest);',
    '};',
  ];
}
