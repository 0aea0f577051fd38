/**
 * The documentation as a reader meets it: README.md and every guide in docs/.
 *
 * Every fenced ts, js and sh block says how it is meant to be used, after its language:
 * `cjs` or `esm` (a program for that module system, run as written), `run` (shell commands,
 * run as written), or `fragment` (a piece that needs context: not run). A program marked `mpi`
 * after its module system (`js esm mpi`) is a fusedoptim/distributed script: it runs on two
 * ranks, `mpirun -np 2 node <file>`, and is skipped, saying why, where mpirun or the package's
 * prebuilt MPI addon is missing. The programs and commands run against the packed package
 * installed into a fresh project, packed once for all of them: TypeScript samples are
 * type-checked in one `tsc` run (module `nodenext`, strict, against the installed package's
 * own declarations) and their output run with node.
 *
 * Every relative link and #anchor resolves, anchors by GitHub's rules for heading ids.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ErrorCodes } from '../lib/errors';
import { REPO_ROOT } from './helpers/child';
import { MPI_ENV } from './helpers/mpi';
import { PACK_TIMEOUT_MS, canPack, freshProject, installPacked } from './helpers/packed';

const README = 'README.md';
const DOCS_DIR = 'docs';
const README_MAX_BYTES = 10 * 1024;

/** README.md and the guides, as paths relative to the repository. */
function documents(): string[] {
  const guides = fs
    .readdirSync(path.join(REPO_ROOT, DOCS_DIR))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `${DOCS_DIR}/${name}`);
  return [README, ...guides];
}

const LANGUAGES = ['ts', 'js', 'sh'] as const;
type Language = (typeof LANGUAGES)[number];
type Mode = 'cjs' | 'esm' | 'run' | 'fragment';
const MODES: Record<Language, Mode[]> = { ts: ['cjs', 'esm', 'fragment'], js: ['cjs', 'esm', 'fragment'], sh: ['run', 'fragment'] };
/** The word after a program's module system that runs it on two MPI ranks. */
const MPI = 'mpi';
/** How many ranks an `mpi` sample runs on. */
const MPI_RANKS = 2;

interface Sample {
  /** The document, relative to the repository. */
  doc: string;
  /** The line of its opening fence (1-based). */
  line: number;
  language: Language;
  /** The first word after the language, or '' when there is none. */
  mode: string;
  /** The words after that one (`mpi`). */
  flags: string[];
  code: string;
}

/** The fenced ts, js and sh blocks of a document (indented fences too: a block inside a list item). */
function samplesOf(doc: string): Sample[] {
  const lines = fs.readFileSync(path.join(REPO_ROOT, doc), 'utf8').split('\n');
  const samples: Sample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, language, info] = open;
    const [mode = '', ...flags] = info.trim().split(/\s+/).filter((word) => word !== '');
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j])) body.push(lines[j++].slice(indent.length));
    if ((LANGUAGES as readonly string[]).includes(language)) {
      samples.push({ doc, line: i + 1, language: language as Language, mode, flags, code: body.join('\n') + '\n' });
    }
    i = j;
  }
  return samples;
}

const SAMPLES = documents().flatMap(samplesOf);
const label = (s: Sample) => `${s.doc}:${s.line} (${[s.language, s.mode, ...s.flags].join(' ')})`;
/** True for a program marked to run on MPI ranks. */
const onRanks = (s: Sample) => s.flags.includes(MPI);
/** A sample's marks are known: a mode of its language, and `mpi` only after a program's module system. */
const wellMarked = (s: Sample) =>
  MODES[s.language].includes(s.mode as Mode) &&
  (s.flags.length === 0 || (s.flags.length === 1 && s.flags[0] === MPI && (s.mode === 'cjs' || s.mode === 'esm')));
/** The sample's file name in the project: where it came from, and the extension its module system takes. */
function fileName(s: Sample): string {
  const base = `${path.basename(s.doc, '.md').toLowerCase()}-line${s.line}`;
  if (s.language === 'sh') return `${base}.sh`;
  const ext = { ts: { cjs: 'cts', esm: 'mts' }, js: { cjs: 'cjs', esm: 'mjs' } }[s.language][s.mode as 'cjs' | 'esm'];
  return `${base}.${ext}`;
}

describe('documentation', () => {
  it(`README.md is at most ${README_MAX_BYTES} bytes`, () => {
    expect(fs.statSync(path.join(REPO_ROOT, README)).size).to.be.at.most(README_MAX_BYTES);
  });

  it('every ts, js and sh block says how it is meant to run (cjs, esm, run or fragment; mpi after cjs or esm)', () => {
    expect(SAMPLES.length).to.be.greaterThan(10);
    const unmarked = SAMPLES.filter((s) => !wellMarked(s)).map(label);
    expect(unmarked, `expected one of ${JSON.stringify(MODES)} after the language, then '${MPI}' or nothing for a program`).to.deep.equal([]);
  });

  it('docs/errors.md explains every error code the library throws', () => {
    const codes = new Set<string>(Object.values(ErrorCodes));
    for (const file of sourceFiles(['lib', 'native'])) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/\bERR_[A-Z0-9_]+/g)) codes.add(m[0]);
    }
    const explained = new Set([...fs.readFileSync(path.join(REPO_ROOT, DOCS_DIR, 'errors.md'), 'utf8').matchAll(/^#+ `(ERR_[A-Z0-9_]+)`$/gm)].map((m) => m[1]));
    expect([...codes].filter((code) => !explained.has(code)).sort()).to.deep.equal([]);
  });

  describe('links', () => {
    for (const doc of documents()) {
      it(`${doc}: every relative link and #anchor resolves`, () => {
        const broken = linksOf(doc).filter((link) => !resolves(doc, link));
        expect(broken).to.deep.equal([]);
      });
    }
  });

  describe('samples, against the packed package in a fresh project', function () {
    this.timeout(600_000);
    const runnable = SAMPLES.filter((s) => s.mode !== 'fragment');
    let app: string;
    /** tsc's diagnostics for every TypeScript sample at once ('' when it passed). */
    let typeErrors = '';
    const env = () => ({ ...process.env, PATH: [path.join(app, 'node_modules', '.bin'), path.dirname(process.execPath), process.env.PATH].join(path.delimiter) });

    before(function () {
      if (!canPack()) this.skip();
      this.timeout(PACK_TIMEOUT_MS);
      app = freshProject('docs');
      installPacked(app);
      // TensorFlow.js, as the reader of the tfjs guide has it installed (dev dependencies here).
      fs.symlinkSync(path.join(REPO_ROOT, 'node_modules', '@tensorflow'), path.join(app, 'node_modules', '@tensorflow'), 'dir');
      for (const s of runnable) fs.writeFileSync(path.join(app, fileName(s)), s.code);
      const typescript = runnable.filter((s) => s.language === 'ts').map(fileName);
      fs.writeFileSync(
        path.join(app, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module: 'nodenext',
            moduleResolution: 'nodenext',
            target: 'es2022',
            strict: true,
            skipLibCheck: true,
            types: ['node'],
            typeRoots: [path.join(REPO_ROOT, 'node_modules', '@types')],
            rootDir: '.',
            outDir: 'out',
          },
          files: typescript,
        }),
      );
      const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' });
      typeErrors = tsc.status === 0 ? '' : tsc.stdout + tsc.stderr;
    });

    /** Why the `mpi` samples cannot run here, or null when they can (asked once). */
    let mpiMissing: string | null | undefined;
    const whyNoMpi = (): string | null => {
      if (mpiMissing !== undefined) return mpiMissing;
      const launcher = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
      const addon = path.join(app, 'node_modules', 'fusedoptim', 'prebuilds', `${process.platform}-${process.arch}`, 'fusedoptim_mpi.node');
      mpiMissing =
        launcher.error || launcher.status !== 0
          ? 'mpirun not found (apt-get install openmpi-bin)'
          : !fs.existsSync(addon)
            ? 'the packed package carries no prebuilt MPI addon (npm pack without Open MPI\'s mpicxx)'
            : null;
      return mpiMissing;
    };

    for (const s of runnable) {
      it(`${label(s)} runs as written${onRanks(s) ? ` on ${MPI_RANKS} MPI ranks` : ''}`, function () {
        const file = fileName(s);
        if (s.language === 'sh') {
          execFileSync('bash', ['-euo', 'pipefail', file], { cwd: app, env: env(), stdio: 'pipe', timeout: 300_000 });
          return;
        }
        let script = file;
        if (s.language === 'ts') {
          // Its own diagnostics, and any that name no file (a configuration error fails every sample).
          const mine = typeErrors.split('\n').filter((l) => l.startsWith(file) || /^error TS/.test(l));
          expect(mine, `tsc on ${file}`).to.deep.equal([]);
          script = path.join('out', file.replace(/\.cts$/, '.cjs').replace(/\.mts$/, '.mjs'));
        }
        if (onRanks(s)) {
          const reason = whyNoMpi();
          if (reason !== null) {
            console.log(`      skipped: ${reason}`);
            this.skip();
          }
          // As root (CI, containers) Open MPI wants --allow-run-as-root, which the guide tells root to add:
          // given here through its environment variables, so the command is the one the guide shows.
          const mpiEnv = { ...env(), ...MPI_ENV, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
          const run = spawnSync('mpirun', ['-np', String(MPI_RANKS), process.execPath, script], { cwd: app, env: mpiEnv, encoding: 'utf8', timeout: 300_000 });
          expect(run.status, `mpirun -np ${MPI_RANKS} node ${file} exited with ${run.status}:\n${run.stdout}\n${run.stderr}`).to.equal(0);
          return;
        }
        const run = spawnSync(process.execPath, [script], { cwd: app, env: env(), encoding: 'utf8', timeout: 300_000 });
        expect(run.status, `${file} exited with ${run.status}:\n${run.stderr}`).to.equal(0);
      });
    }
  });
});

/** Every TypeScript and C++ file under the given folders of the repository. */
function sourceFiles(folders: string[]): string[] {
  return folders.flatMap((folder) =>
    (fs.readdirSync(path.join(REPO_ROOT, folder), { recursive: true }) as string[])
      .filter((name) => /\.(ts|cc|h)$/.test(name))
      .map((name) => path.join(REPO_ROOT, folder, name)),
  );
}

/** The relative link targets of a document: `[text](target)` outside code, web addresses left out. */
function linksOf(doc: string): string[] {
  const text = fs
    .readFileSync(path.join(REPO_ROOT, doc), 'utf8')
    .replace(/^\s*```[\s\S]*?^\s*```/gm, '')
    .replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** True if the link's file exists and, for an #anchor, the heading it names is in that file. */
function resolves(doc: string, link: string): boolean {
  const [file, anchor] = link.split('#', 2);
  const target = file === '' ? path.join(REPO_ROOT, doc) : path.resolve(path.dirname(path.join(REPO_ROOT, doc)), file);
  if (!fs.existsSync(target)) return false;
  if (anchor === undefined) return true;
  if (!target.endsWith('.md')) return false;
  return headingIds(fs.readFileSync(target, 'utf8')).has(anchor);
}

/**
 * The ids GitHub gives a Markdown file's headings: the heading's text (code spans and links
 * reduced to their text), lower-cased, every character but letters, digits, spaces, hyphens and
 * underscores dropped, each space made a hyphen; a repeated id gets -1, -2, ...
 */
function headingIds(markdown: string): Set<string> {
  const ids = new Set<string>();
  const seen = new Map<string, number>();
  const withoutCode = markdown.replace(/^\s*```[\s\S]*?^\s*```/gm, '');
  for (const m of withoutCode.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = m[1].replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    ids.add(count === 0 ? base : `${base}-${count}`);
  }
  return ids;
}
