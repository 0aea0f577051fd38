/** What the native side runs on this machine, for logs, benchmarks and bug reports. */
import { AddonBuild, AddonInfo, addonOrigin, loadAddon } from './native';

export type { AddonBuild } from './native';

/** What `addonInfo()` returns: the kernels chosen at load and the binary they came from. */
export interface BuildInfo {
  /** The instruction set whose kernels were chosen at load: 'avx512', 'avx2' or 'baseline'. */
  isa: string;
  /** Whether the addon was built with OpenMP (without it every kernel runs on one thread). */
  openmp: boolean;
  /** OpenMP's default team size (OMP_NUM_THREADS, else the cores). */
  defaultThreads: number;
  /** 'prebuilt': the binary shipped in the npm package; 'local': built from source on this machine (node-gyp). */
  build: AddonBuild;
  /** The file the addon was loaded from. */
  path: string;
}

/** Throws ERR_ADDON_NOT_LOADED when the addon is missing. */
export function addonInfo(): BuildInfo {
  const info: AddonInfo = loadAddon().info();
  const origin = addonOrigin();
  return { isa: info.isa, openmp: info.openmp, defaultThreads: info.defaultThreads, build: origin.build, path: origin.path };
}
