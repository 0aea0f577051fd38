/**
 * Smoke test of examples/service: starts on a free port, answers /status and
 * /predict while training, rejects a bad image with a library error code and a
 * 5 MB body with its 413 JSON, stops.
 */
import { expect } from 'chai';
import { startService } from '../examples/service/server';
import { getNumThreads, setNumThreads } from '../lib';

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('examples/service', function () {
  this.timeout(60_000);

  // The trainer sets the thread count of this context (1, leaving a core to the service).
  let saved: number;
  before(() => (saved = getNumThreads()));
  after(() => setNumThreads(saved));

  it('answers /status and /predict while it trains, then stops cleanly', async () => {
    const service = await startService({ port: 0, epochs: 2, threads: 1 });
    try {
      const first = await json(`${service.url}/status`);
      expect(first.status).to.equal(200);
      expect(first.body).to.include.keys('state', 'step', 'epoch', 'loss', 'lr', 'validationAccuracy', 'eventLoopDelayMs');
      const pixels = Array.from({ length: 64 }, (_, i) => i % 17);
      const predicted = await json(`${service.url}/predict`, { method: 'POST', body: JSON.stringify({ pixels }) });
      expect(predicted.status).to.equal(200);
      expect(predicted.body.digit).to.be.within(0, 9);
      const bad = await json(`${service.url}/predict`, { method: 'POST', body: JSON.stringify({ pixels: [1, 2] }) });
      expect(bad).to.deep.equal({ status: 400, body: { code: 'ERR_SHAPE_MISMATCH', message: 'pixels: expected an array of 64 numbers' } });
      expect((await json(`${service.url}/nowhere`)).status).to.equal(404);
      // A 5 MB body: the 413 and its JSON arrive (before the connection closes), and the service goes on answering.
      const huge = await json(`${service.url}/predict`, { method: 'POST', body: 'x'.repeat(5 * 1024 * 1024) });
      expect(huge).to.deep.equal({ status: 413, body: { code: 'ERR_BODY_TOO_LARGE', message: 'request body: at most 16384 bytes' } });
      expect((await json(`${service.url}/status`)).status).to.equal(200);
      // Training makes progress in the background while requests are answered.
      let status = first.body;
      for (let i = 0; i < 200 && (status.step as number) === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        status = (await json(`${service.url}/status`)).body;
      }
      expect(status.step as number).to.be.greaterThan(0);
      expect(status.lr as number).to.be.lessThan(3e-3);
    } finally {
      await service.close();
    }
    expect(['stopped', 'done']).to.include(service.trainer.status.state);
    expect(service.server.listening).to.equal(false);
  });
});
