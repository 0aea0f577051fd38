/**
 * The main job (`npm start` = `fusedoptim train`): trains the digits MLP to >= 95% validation
 * accuracy with a fixed seed (fewer epochs than the default, so the test is quick), writes the
 * run folder, and --resume continues an interrupted run to the same bits.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../lib/cli/main';
import { readCheckpoint } from '../lib/train/checkpoint';
import { parseNumbers } from '../lib/train/history';
import { captureIo } from './helpers/capture';
import { all, parseXml } from './helpers/xml';

describe('the main job: fusedoptim train (npm start)', () => {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-job-'));
  const common = ['--runs-dir', runsDir, '--epochs', '6', '--seed', '0', '--progress', 'log'];

  interface Summary {
    stopReason: string;
    globalStep: number;
    finalValAccuracy: number;
    bestValAccuracy: number;
    config: { epochs: number; seed: number };
    history: { trainLoss: number[]; valLoss: number[]; learningRate: number[]; valMetrics: { accuracy: number[] } };
  }
  const summaryOf = (name: string) => parseNumbers(fs.readFileSync(path.join(runsDir, name, 'history.json'), 'utf8')) as Summary;

  it('reaches 95% validation accuracy and writes the run folder', async () => {
    const io = captureIo();
    const code = await main(['train', '--name', 'quick', ...common], io);
    expect(code, io.err()).to.equal(0);
    const dir = path.join(runsDir, 'quick');
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['best.safetensors', 'history.json', 'history.svg', 'last.safetensors']);

    const summary = summaryOf('quick');
    expect(summary.stopReason).to.equal('completed');
    expect(summary.config).to.include({ epochs: 6, seed: 0 });
    expect(summary.finalValAccuracy).to.be.at.least(0.95);
    expect(summary.bestValAccuracy).to.be.at.least(0.95);
    expect(summary.history.valLoss).to.have.length(6);
    expect(summary.history.trainLoss).to.have.length(summary.globalStep);
    // The lr rose through the warmup and decayed along the cosine.
    const lr = summary.history.learningRate;
    const peak = lr.indexOf(Math.max(...lr));
    expect(peak).to.be.within(40, 50);
    expect(lr[lr.length - 1]).to.be.below(lr[peak] / 10);

    // The best checkpoint is the epoch of the lowest validation loss.
    const best = readCheckpoint(path.join(dir, 'best.safetensors'));
    expect(best.progress!.bestValLoss).to.equal(Math.min(...summary.history.valLoss));
    expect(best.extra).to.have.nested.property('config.seed', 0);

    // The plot is well-formed SVG with the three panels' curves.
    const svg = parseXml(fs.readFileSync(path.join(dir, 'history.svg'), 'utf8'));
    expect(svg.name).to.equal('svg');
    expect(all(svg, 'path').length).to.be.at.least(3);

    // The console shows per-epoch train/validation loss and accuracy, and the final result.
    const out = io.out();
    expect(out.match(/^epoch \d\/6 \| train loss \S+ \| val loss \S+ \| val accuracy \S+/gm)).to.have.length(6);
    expect(out).to.match(/^step \d+ \| epoch \d\/6 \| loss/m);
    expect(out).to.match(/done after \d+ steps in [\d.]+ s: .* final val accuracy \d+\.\d+%/);
  });

  it('--resume continues an interrupted run to the same bits as an uninterrupted one', async () => {
    const first = captureIo();
    expect(await main(['train', '--name', 'interrupted', ...common, '--max-steps', '100', '--quiet'], first)).to.equal(0);
    expect(summaryOf('interrupted').stopReason).to.equal('maxSteps');
    expect(first.out()).to.equal('');
    const second = captureIo();
    // The configuration comes from the checkpoint; repeating a flag with the same value is fine.
    expect(await main(['train', '--name', 'interrupted', '--runs-dir', runsDir, '--epochs', '6', '--resume', '--quiet'], second), second.err()).to.equal(0);
    for (const file of ['best.safetensors', 'last.safetensors']) {
      expect(fs.readFileSync(path.join(runsDir, 'interrupted', file))).to.deep.equal(fs.readFileSync(path.join(runsDir, 'quick', file)));
    }
    expect(summaryOf('interrupted').history).to.deep.equal(summaryOf('quick').history);
  });

  it('--resume refuses a changed setting, and a folder with no run', async () => {
    const io = captureIo();
    expect(await main(['train', '--name', 'quick', '--runs-dir', runsDir, '--seed', '1', '--resume'], io)).to.equal(1);
    expect(io.err()).to.match(/seed is 0 in the run being resumed.*\[ERR_INVALID_ARG_VALUE\]/);
    const none = captureIo();
    expect(await main(['train', '--name', 'nothing-here', '--runs-dir', runsDir, '--resume'], none)).to.equal(1);
    expect(none.err()).to.include('no run to resume');
  });
});
