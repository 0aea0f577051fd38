/**
 * `fusedoptim train --optimizer`: any step optimizer of the registry, by name in any case; the
 * choice is kept in the run's checkpoints, so --resume continues with it; Schedule-Free trains without the warmup-cosine schedule, by its own
 * warmup, and a resumed run ends with the same bits as an uninterrupted one; what an optimizer
 * cannot do is refused before anything is written.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { OPTIMIZERS } from '../lib';
import { main } from '../lib/cli/main';
import { readCheckpoint } from '../lib/train/checkpoint';
import { captureIo } from './helpers/capture';

describe('fusedoptim train --optimizer', function () {
  this.timeout(120_000);
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedoptim-optimizer-'));
  const base = (name: string) => ['train', '--name', name, '--runs-dir', runsDir, '--epochs', '2', '--quiet'];

  it('--help lists every step optimizer of the registry', async () => {
    const io = captureIo();
    expect(await main(['train', '--help'], io)).to.equal(0);
    for (const e of OPTIMIZERS.filter((o) => !o.capabilities.closure)) expect(io.out()).to.include(e.name);
    expect(io.out()).to.not.match(/--optimizer[^\n]*LBFGS/);
  });

  it('an unknown name, or LBFGS, is a usage error (exit 2) that lists the choices', async () => {
    for (const name of ['adamm', 'LBFGS']) {
      const io = captureIo();
      expect(await main([...base('bad'), '--optimizer', name], io)).to.equal(2);
      expect(io.err()).to.include(`--optimizer must be one of ASGD, Adadelta`).and.include(JSON.stringify(name));
    }
    expect(fs.existsSync(path.join(runsDir, 'bad'))).to.equal(false);
  });

  it('--state-dtype with an optimizer that keeps no compact state is refused before anything is written', async () => {
    const io = captureIo();
    expect(await main([...base('rprop8'), '--optimizer', 'rprop', '--state-dtype', 'int8'], io)).to.equal(1);
    expect(io.err()).to.include('--state-dtype int8: Rprop keeps no state that can be stored compactly');
    expect(fs.existsSync(path.join(runsDir, 'rprop8', 'last.safetensors'))).to.equal(false);
  });

  it('Schedule-Free: no schedule, its own warmup, the class in the checkpoint; a resumed run ends with the bits of an uninterrupted one', async () => {
    const whole = captureIo();
    expect(await main([...base('sf-whole'), '--optimizer', 'sgdschedulefree', '--lr', '0.1'], whole), whole.err()).to.equal(0);
    const done = readCheckpoint(path.join(runsDir, 'sf-whole', 'last.safetensors'));
    expect(done.optimizer!.class).to.equal('SGDScheduleFree');
    expect(done.scheduler).to.equal(null);
    expect(done.extra).to.have.nested.property('config.optimizer', 'SGDScheduleFree');
    // Ended in eval mode: the saved params are x.
    expect((done.optimizer!.stateDict.paramGroups[0] as Record<string, unknown>).trainMode).to.equal(false);
    const history = JSON.parse(fs.readFileSync(path.join(runsDir, 'sf-whole', 'history.json'), 'utf8')) as { history: { learningRate: number[] } };
    expect(new Set(history.history.learningRate)).to.deep.equal(new Set([0.1]));

    const first = captureIo();
    expect(await main([...base('sf-resumed'), '--optimizer', 'SGDScheduleFree', '--lr', '0.1', '--max-steps', '50'], first), first.err()).to.equal(0);
    const again = captureIo();
    // No --optimizer: the run's own comes back from its checkpoint.
    expect(await main(['train', '--name', 'sf-resumed', '--runs-dir', runsDir, '--resume', '--quiet'], again), again.err()).to.equal(0);
    const resumed = readCheckpoint(path.join(runsDir, 'sf-resumed', 'last.safetensors'));
    expect(resumed.optimizer!.class).to.equal('SGDScheduleFree');
    resumed.params.forEach((p, i) => expect(Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).equals(Buffer.from(done.params[i].data.buffer, done.params[i].data.byteOffset, done.params[i].data.byteLength)), `param ${i}`).to.equal(true));
  });

  it('without --optimizer the run trains AdamW, and says so in its configuration', async () => {
    const io = captureIo();
    expect(await main([...base('old'), '--max-steps', '5'], io), io.err()).to.equal(0);
    const file = path.join(runsDir, 'old', 'last.safetensors');
    const ck = readCheckpoint(file);
    expect(ck.extra).to.have.nested.property('config.optimizer', 'AdamW');
  });
});
