/**
 * The package as a user gets it: `npm pack` (whose prepack builds the prebuilt addon, 15 to 60 s
 * on 2 cores) run once per test process, however many test files install the tarball, and a fresh
 * project to install it into.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { REPO_ROOT } from './child';

/** npm's own script, run by this node: no npm (nor anything else) needs to be on a child's PATH. */
export function npmCli(): string {
  const fromEnv = process.env.npm_execpath;
  if (fromEnv && /npm-cli\.js$/.test(fromEnv)) return fromEnv;
  return path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
}

/** True where the package ships a prebuilt binary and npm can be run: the only place packing is tested. */
export function canPack(): boolean {
  return `${process.platform}-${process.arch}` === 'linux-x64' && fs.existsSync(npmCli());
}

export interface Packed {
  /** The .tgz file. */
  tarball: string;
  /** The files in the tarball, relative to the package's root. */
  contents: string[];
  /** A temporary folder beside the tarball, for projects that install it. */
  work: string;
}

/**
 * How long a before hook that may pack gives it: packing rebuilds the addon for three instruction
 * sets, minutes on 2 cores that other jobs share. (A test whose hook finds the pack made waits for nothing.)
 */
export const PACK_TIMEOUT_MS = 1_800_000;

let packed: Packed | undefined;

/** Packs this checkout once per process; later calls return the same tarball. */
export function packOnce(): Packed {
  if (packed) return packed;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-pack-'));
  // (The prepack and prepare scripts print to stdout too: the tarball is found by its name, not by --json.)
  execFileSync(process.execPath, [npmCli(), 'pack', '--pack-destination', work], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const tarballs = fs.readdirSync(work).filter((name) => name.endsWith('.tgz'));
  if (tarballs.length !== 1) throw new Error(`npm pack left ${tarballs.length} tarballs in ${work}`);
  const tarball = path.join(work, tarballs[0]);
  const contents = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
    .split('\n')
    .map((f) => f.replace(/^package\//, ''));
  packed = { tarball, contents, work };
  return packed;
}

/** A new, empty project folder (a package.json and nothing else) under the pack's work folder. */
export function freshProject(name: string): string {
  const app = fs.mkdtempSync(path.join(packOnce().work, `${name}-`));
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  return app;
}

/** Installs the packed tarball into `app` with install scripts disabled, as `npm install --ignore-scripts` does. */
export function installPacked(app: string, env: NodeJS.ProcessEnv = process.env): void {
  execFileSync(process.execPath, [npmCli(), 'install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', packOnce().tarball], {
    cwd: app,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
