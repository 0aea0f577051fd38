/**
 * The `fusedoptim` command (lib/cli/): dispatch, --help on every subcommand, usage errors,
 * `inspect` (text and --json, and a damaged file), and `compare` (the textbook table and plots).
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../lib/cli/main';
import { AdamW } from '../lib';
import { WarmupCosineScheduler } from '../lib/schedulers';
import { saveCheckpoint } from '../lib/train/checkpoint';
import { parseNumbers } from '../lib/train/history';
import { captureIo } from './helpers/capture';
import { REPO_ROOT } from './helpers/child';
import { LinearModel, batchesOf, regressionData } from './helpers/tiny-model';
import { all, parseXml } from './helpers/xml';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-cli-'));
}

describe('the fusedoptim command', () => {
  it('lists its commands with --help, and exits 2 without a command or with an unknown one', async () => {
    const io = captureIo();
    expect(await main(['--help'], io)).to.equal(0);
    for (const command of ['train', 'compare', 'inspect', 'bench']) expect(io.out()).to.match(new RegExp(`^  ${command}\\b`, 'm'));
    const none = captureIo();
    expect(await main([], none)).to.equal(2);
    expect(none.err()).to.include('usage: fusedoptim <command>');
    const unknown = captureIo();
    expect(await main(['fly'], unknown)).to.equal(2);
    expect(unknown.err()).to.include('unknown command "fly"');
  });

  for (const command of ['train', 'compare', 'inspect']) {
    it(`${command} --help describes every option`, async () => {
      const io = captureIo();
      expect(await main([command, '--help'], io)).to.equal(0);
      expect(io.out()).to.match(new RegExp(`^usage: fusedoptim ${command}`));
      expect(io.out()).to.include('--help');
    });
  }

  it('train --help names the flags of the job', async () => {
    const io = captureIo();
    await main(['train', '--help'], io);
    for (const flag of ['--epochs <n>', '--seed <n>', '--name <name>', '--resume', '--lr <x>', '--max-grad-norm <x>', '--checkpoint-every <n>', '--compression <none|bf16|fp16>', '--error-feedback']) {
      expect(io.out()).to.include(flag);
    }
  });

  it('usage mistakes exit 2 with a pointer to --help, and train nothing', async () => {
    const runsDir = tempDir();
    const cases: Array<[string[], string]> = [
      [['train', '--epoch', '3'], 'unknown option --epoch'],
      [['train', '--epochs', 'three'], '--epochs must be an integer >= 1, got "three"'],
      [['train', '--epochs'], '--epochs needs a value'],
      [['train', '--epochs', '--seed', '1'], '--epochs needs a value'],
      [['train', '--resume=yes'], '--resume takes no value'],
      [['train', '--progress', 'loud'], '--progress must be one of auto, bar, log, none, got "loud"'],
      [['train', '--hidden', '12,x'], '--hidden must be layer widths in [1, 4096] like 128,64, got "12,x"'],
      // Issue 24: values the job refused in its own words (`options.config.epochs: ...`, exit 1) are usage mistakes.
      [['train', '--epochs', '-1'], '--epochs must be an integer >= 1, got -1'],
      [['train', '--epochs', '0'], '--epochs must be an integer >= 1, got 0'],
      [['train', '--epochs', '2.5'], '--epochs must be an integer >= 1, got 2.5'],
      [['train', '--seed', '-3'], '--seed must be an integer in [0, 4294967295], got -3'],
      [['train', '--batch-size=0'], '--batch-size must be an integer >= 1, got 0'],
      [['train', '--lr', '0'], '--lr must be a finite number > 0, got 0'],
      [['train', '--lr', 'Infinity'], '--lr must be a finite number > 0, got Infinity'],
      [['train', '--weight-decay', '-0.1'], '--weight-decay must be a finite number >= 0, got -0.1'],
      [['train', '--warmup-steps', '-1'], '--warmup-steps must be an integer >= 0, got -1'],
      [['train', '--min-lr', '-1'], '--min-lr must be a finite number >= 0, got -1'],
      [['train', '--max-grad-norm', '0'], '--max-grad-norm must be a finite number > 0, got 0'],
      [['train', '--state-dtype', 'fp8'], '--state-dtype must be one of float32, bfloat16, int8, got "fp8"'],
      [['train', '--max-steps', '0'], '--max-steps must be an integer >= 1, got 0'],
      [['train', '--checkpoint-every', '0'], '--checkpoint-every must be an integer >= 1, got 0'],
      [['train', '--threads', '0'], '--threads must be an integer in [1, 1024], got 0'],
      [['train', '--hidden', '8,5000'], '--hidden must be layer widths in [1, 4096]'],
      [['train', '--name', '../x'], `--name must be a folder name of letters, digits, '_', '-' and '.', got "../x"`],
      [['train', '--shard-state'], '--shard-state needs --distributed'],
      [['train', '--compression', 'bf16'], '--compression needs --distributed'],
      [['train', '--distributed', '--compression', 'int8'], '--compression must be one of none, bf16, fp16, got "int8"'],
      [['train', '--distributed', '--error-feedback'], '--error-feedback needs --compression bf16 or fp16'],
      [['train', '--distributed', '--compression', 'none', '--error-feedback'], '--error-feedback needs --compression bf16 or fp16'],
      [['train', '--distributed', '--shard-state', '--compression', 'fp16'], '--compression fp16 and --shard-state exclude each other'],
      [['train', '--resume', '--force'], '--resume and --force exclude each other'],
      [['train', '--resume-from', 'best', '--force'], '--resume-from and --force exclude each other'],
      [['train', '--resume', '--resume-from', 'best'], '--resume and --resume-from: give one'],
      [['train', '--resume-from', 'first'], '--resume-from must be one of last, best, got "first"'],
      [['compare', '--epochs', '-1'], '--epochs must be an integer >= 1, got -1'],
      [['compare', '--state-dtype', 'int4'], '--state-dtype must be one of float32, bfloat16, int8, got "int4"'],
      [['inspect'], 'expected <checkpoint>'],
      [['compare', 'extra'], 'unexpected argument "extra"'],
    ];
    for (const [argv, message] of cases) {
      const io = captureIo();
      const withDir = argv[0] === 'train' ? ['train', '--runs-dir', runsDir, ...argv.slice(1)] : argv;
      expect(await main(withDir, io), argv.join(' ')).to.equal(2);
      expect(io.err()).to.include(message);
      expect(io.err()).to.include(`fusedoptim ${argv[0]} --help`);
    }
    expect(fs.readdirSync(runsDir)).to.deep.equal([]);
  });

  it('under a launcher, rank 0 alone prints usage mistakes, the usage text and --help; every rank exits with the same status', async () => {
    const saved = { ...process.env };
    const run = async (env: Record<string, string>, argv: string[]) => {
      for (const name of ['OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK']) delete process.env[name];
      Object.assign(process.env, env);
      try {
        const io = captureIo();
        return { status: await main(argv, io), printed: io.out() + io.err() };
      } finally {
        for (const name of ['OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK']) {
          if (saved[name] === undefined) delete process.env[name];
          else process.env[name] = saved[name];
        }
      }
    };
    const mistakes: [string[], number, string][] = [
      [['train', '--distributed', '--epochs', '-1'], 2, '--epochs must be an integer >= 1, got -1'],
      [['fly'], 2, 'unknown command "fly"'],
      [[], 2, 'usage: fusedoptim <command>'],
      [['train', '--help'], 0, 'usage: fusedoptim train'],
    ];
    for (const [argv, status, message] of mistakes) {
      for (const env of [{ OMPI_COMM_WORLD_RANK: '0' }, { PMIX_RANK: '0' }, {}] as Record<string, string>[]) {
        const r = await run(env, argv);
        expect([r.status, r.printed.includes(message)], `${JSON.stringify(env)} ${argv.join(' ')}`).to.deep.equal([status, true]);
      }
      for (const env of [{ OMPI_COMM_WORLD_RANK: '1' }, { PMIX_RANK: '3' }, { PMI_RANK: '2' }] as Record<string, string>[]) {
        expect(await run(env, argv), `${JSON.stringify(env)} ${argv.join(' ')}`).to.deep.equal({ status, printed: '' });
      }
    }
  });

  it('a runtime error is one line with its code, exit 1', async () => {
    const io = captureIo();
    expect(await main(['train', '--runs-dir', tempDir(), '--resume'], io)).to.equal(1);
    expect(io.err()).to.match(/^fusedoptim train: resume: there is no run to resume in .* \(no last\.safetensors\) \[ERR_INVALID_ARG_VALUE\]\n$/);
  });

  it("every command's --help, and the command list, say what the exit statuses mean", async () => {
    for (const command of ['train', 'compare', 'inspect']) {
      const io = captureIo();
      await main([command, '--help'], io);
      expect(io.out()).to.match(/^exit status:\n  0 done\n  1 an error while running .*\n  2 a usage mistake .*the message names the flag/m);
    }
    const train = captureIo();
    await main(['train', '--help'], train);
    expect(train.out()).to.include('130 / 143 stopped by Ctrl-C / SIGTERM');
    expect(train.out()).to.match(/--state-dtype <float32\|bfloat16\|int8>/);
    expect(train.out()).to.match(/--resume-from <last\|best>/);
    const top = captureIo();
    await main(['--help'], top);
    expect(top.out()).to.match(/exit status:.*\n  0 done/);
  });

  describe('inspect', () => {
    const dir = tempDir();
    const file = path.join(dir, 'ck.safetensors');
    const model = new LinearModel();
    const optimizer = new AdamW(model.params, { lr: 0.1 });
    const scheduler = new WarmupCosineScheduler(optimizer, { warmupSteps: 1, totalSteps: 10 });
    for (const batch of batchesOf(regressionData(12, 1), 4)) {
      optimizer.step(model.forwardBackward(batch).grads);
      scheduler.step();
    }
    before(() =>
      saveCheckpoint(file, {
        model,
        optimizer,
        scheduler,
        progress: { epoch: 1, batchInEpoch: 0, globalStep: 3, bestValLoss: 0.5, epochLossSum: 0, epochLossCount: 0 },
        history: { trainLoss: [1, 0.8, 0.6], learningRate: [0.1, 0.1, 0.09], gradNorm: [1, 1, 1], skippedSteps: [], epochTrainLoss: [0.8], valLoss: [0.5], valMetrics: {}, epochEndStep: [3] },
        extra: { note: 'hello' },
      }),
    );

    it('prints tensors, shapes, dtypes and metadata', async () => {
      const io = captureIo();
      expect(await main(['inspect', file], io), io.err()).to.equal(0);
      const out = io.out();
      expect(out).to.include('fusedoptim checkpoint, format version 1');
      expect(out).to.include('checksum ok');
      expect(out).to.match(/progress: +3 optimizer steps, 1 epochs done, best validation loss 0\.5/);
      expect(out).to.match(/optimizer: AdamW group 0 \(2 params\): lr=\S+ betas=\[0\.9,0\.999\]/);
      expect(out).to.include('scheduler: WarmupCosineScheduler');
      expect(out).to.match(/history: +3 steps \(0 skipped\), 1 epochs/);
      expect(out).to.include('extra:     {"note":"hello"}');
      expect(out).to.match(/^ {2}param\.0 +F64 +\[3\] +3 .*weight$/m);
      expect(out).to.match(/^ {2}optim\.1\.expAvgSq +F64 +\[1\] +1 /m);
      // Issue 24: the state's size, as train prints it: 2 moments of 4 float64 elements.
      expect(out).to.match(/^ +optimizer state: 64 bytes \(float64 64\), 16 bytes per param$/m);
    });

    it('--json prints one JSON document', async () => {
      const io = captureIo();
      expect(await main(['inspect', file, '--json'], io)).to.equal(0);
      const doc = parseNumbers(io.out()) as {
        checkpoint: boolean;
        tensors: Array<{ name: string; dtype: string; shape: number[]; label?: string }>;
        metadata: { version: number; optimizer: { class: string; stateSize: unknown }; progress: { globalStep: number } };
      };
      expect(doc.checkpoint).to.equal(true);
      expect(doc.metadata.version).to.equal(1);
      expect(doc.metadata.optimizer.class).to.equal('AdamW');
      expect(doc.metadata.optimizer.stateSize).to.deep.equal({ bytes: 64, dtypes: { float64: 64 } });
      expect(doc.metadata.progress.globalStep).to.equal(3);
      expect(doc.tensors.map((t) => t.name)).to.deep.equal(['optim.0.expAvg', 'optim.0.expAvgSq', 'optim.1.expAvg', 'optim.1.expAvgSq', 'param.0', 'param.1']);
      expect(doc.tensors.find((t) => t.name === 'param.1')).to.include({ dtype: 'F64', label: 'bias' });
    });

    it('a damaged file or a missing one: a one-line error with its code, exit 1', async () => {
      const damaged = path.join(dir, 'damaged.safetensors');
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 3] ^= 0x10;
      fs.writeFileSync(damaged, bytes);
      const io = captureIo();
      expect(await main(['inspect', damaged], io)).to.equal(1);
      expect(io.err()).to.match(/^fusedoptim inspect: checkpoint ".*damaged\.safetensors": checksum mismatch.*\[ERR_CHECKPOINT_CORRUPT\]\n$/);
      const missing = captureIo();
      expect(await main(['inspect', path.join(dir, 'nope')], missing)).to.equal(1);
      expect(missing.err()).to.match(/ENOENT/);
    });
  });

  describe('compare', () => {
    it("prints the textbook's table with its numbers beside ours, and draws the curves", async () => {
      const out = tempDir();
      const io = captureIo();
      expect(await main(['compare', '--out', out, '--skip-schedules'], io), io.err()).to.equal(0);
      const text = io.out();
      for (const name of ['SGD', 'Momentum', 'Nesterov', 'AdaGrad', 'RMSprop', 'Adam', 'AdamW']) expect(text).to.match(new RegExp(`^${name} +0\\.98`, 'm'));
      expect(text).to.match(/^optimizer +final loss +textbook final loss +gap +textbook gap/m);
      const json = JSON.parse(fs.readFileSync(path.join(out, 'compare.json'), 'utf8'));
      for (const row of json.quadratic) {
        const tolerance = row.name === 'RMSprop' ? 1e-4 : 1e-9;
        expect(Math.abs(row.finalLoss - row.textbookFinalLoss) / row.textbookFinalLoss, row.name).to.be.below(tolerance);
      }
      // LBFGS on the same problem: at the optimum within one step, with and without the line search.
      expect(json.lbfgs.map((r: { name: string }) => r.name)).to.deep.equal(['LBFGS', 'LBFGS strong_wolfe']);
      for (const row of json.lbfgs) {
        expect(row.steps, row.name).to.equal(1);
        expect(row.gap, row.name).to.be.below(1e-12);
      }
      expect(text).to.match(/^LBFGS strong_wolfe +1 +\d+ +\d+ +0\.98045181336/m);
      const svg = parseXml(fs.readFileSync(path.join(out, 'quadratic.svg'), 'utf8'));
      expect(all(svg, 'path').length).to.be.at.least(7);
    });

    it('compares cosine with warm restarts on the digits model (short run)', async () => {
      const out = tempDir();
      const io = captureIo();
      expect(await main(['compare', '--out', out, '--epochs', '3'], io), io.err()).to.equal(0);
      expect(io.out()).to.match(/^cosine +\d\.\d{4} +\d\.\d{4} +\d+\.\d\d% /m);
      expect(io.out()).to.match(/^cosine with warm restarts +\d\.\d{4}/m);
      const svg = parseXml(fs.readFileSync(path.join(out, 'schedules.svg'), 'utf8'));
      expect(all(svg, 'path').length).to.be.at.least(6);
      const json = JSON.parse(fs.readFileSync(path.join(out, 'compare.json'), 'utf8'));
      expect(json.schedules.map((s: { name: string }) => s.name)).to.deep.equal(['cosine', 'cosine with warm restarts']);
    });
  });

  it('bin/fusedoptim.js runs the compiled command (after npm run build:ts)', function () {
    if (!fs.existsSync(path.join(REPO_ROOT, 'dist', 'lib', 'cli', 'main.js'))) this.skip();
    const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'fusedoptim.js'), 'inspect', '--help'], { encoding: 'utf8' });
    expect(result.status, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^usage: fusedoptim inspect <checkpoint>/);
  });
});
