/** What a result was measured on: printed above every table and stored in the JSON. */
import * as fs from 'fs';
import * as os from 'os';
import { addonInfo } from '../lib/info';

export interface MachineInfo {
  /** "model name" from /proc/cpuinfo (else os.cpus()[0].model). */
  cpu: string;
  /** Logical CPUs this process may use. */
  cores: number;
  /** The kernel table the addon chose at load ('avx512', 'avx2', 'baseline'). */
  isa: string;
  openmp: boolean;
  /** OpenMP's default team size. */
  defaultThreads: number;
  node: string;
  platform: string;
  totalMemoryBytes: number;
  /** OMP_* and FUSEDOPTIM_* variables of the environment (they change what is measured). */
  env: Record<string, string>;
  date: string;
}

function cpuModel(): string {
  try {
    const line = fs
      .readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux: fall through
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

export function machineInfo(): MachineInfo {
  const build = addonInfo();
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if ((key.startsWith('OMP_') || key.startsWith('GOMP_') || key.startsWith('FUSEDOPTIM_')) && value !== undefined) env[key] = value;
  }
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    isa: build.isa,
    openmp: build.openmp,
    defaultThreads: build.defaultThreads,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    totalMemoryBytes: os.totalmem(),
    env,
    date: new Date().toISOString(),
  };
}

/** One line per fact, for the top of the markdown output. */
export function machineMarkdown(m: MachineInfo): string {
  const env = Object.entries(m.env).map(([k, v]) => `${k}=${v}`);
  return [
    `- CPU: ${m.cpu} (${m.cores} logical cores available), ${(m.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB RAM`,
    `- Kernels: ${m.isa}${m.openmp ? `, OpenMP (default team ${m.defaultThreads})` : ', no OpenMP'}`,
    `- Node ${m.node} on ${m.platform}`,
    `- Environment: ${env.length > 0 ? env.join(' ') : 'no OMP_* or FUSEDOPTIM_* variables set'}`,
    `- Date: ${m.date}`,
  ].join('\n');
}
