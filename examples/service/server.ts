/**
 * An HTTP service (node:http, no framework) that trains the digits model in the
 * background and answers while it trains:
 *
 *   GET  /status   → { state, step, epoch, loss, lr, validationAccuracy, eventLoopDelayMs }
 *   POST /predict  ← { "pixels": [64 numbers in 0..16] } (an 8x8 image, row by row)
 *                  → { "digit": 0..9 }
 *
 * Run: npx ts-node examples/service/server.ts [--port 8080] [--threads 1] [--epochs 30] [--sync]
 * It listens on 127.0.0.1 and prints `listening on http://127.0.0.1:PORT` once ready.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import { IntervalHistogram, monitorEventLoopDelay } from 'perf_hooks';
import { ErrorCodes, isFusedOptimError } from '../../lib';
import { Trainer, TrainerOptions } from './trainer';

/** The most a request body may hold: a 64-pixel image in JSON is well under 2 kB. */
const MAX_BODY_BYTES = 16 * 1024;
/**
 * After a 413 the rest of an oversized body is read and discarded (node:http drains it once the
 * response is out, keeping the connection) up to this much; past it the connection is cut.
 * Destroying the request at once would close the socket before the 413 is sent, and a reset
 * can reach the client, still sending, before any answer.
 */
const MAX_DISCARDED_BYTES = 64 * 1024 * 1024;
const PIXELS = 64;
/** The data set's pixels count set pixels in 4x4 blocks: 0..16; the model sees them scaled to [0, 1]. */
const MAX_PIXEL = 16;

export interface Service {
  readonly server: http.Server;
  readonly trainer: Trainer;
  readonly url: string;
  /** Stops training after the step in flight, then closes the server. */
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      else if (size - chunk.length <= MAX_BODY_BYTES) {
        // Answered now (the route sends the 413); the rest is read and dropped.
        chunks.length = 0;
        reject(new HttpError(413, 'ERR_BODY_TOO_LARGE', `request body: at most ${MAX_BODY_BYTES} bytes`));
      } else if (size > MAX_BODY_BYTES + MAX_DISCARDED_BYTES) req.destroy();
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** `{ "pixels": [...] }` → one row of 64 features in [0, 1]. */
function parsePixels(text: string): Float32Array {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, ErrorCodes.INVALID_ARG_TYPE, 'request body: expected JSON');
  }
  const pixels = (body as { pixels?: unknown } | null)?.pixels;
  if (!Array.isArray(pixels) || pixels.length !== PIXELS) {
    throw new HttpError(400, ErrorCodes.SHAPE_MISMATCH, `pixels: expected an array of ${PIXELS} numbers`);
  }
  const x = new Float32Array(PIXELS);
  pixels.forEach((v, i) => {
    if (typeof v !== 'number' || !(v >= 0 && v <= MAX_PIXEL)) {
      throw new HttpError(400, ErrorCodes.OUT_OF_RANGE, `pixels[${i}]: expected a number in [0, ${MAX_PIXEL}], got ${JSON.stringify(v)}`);
    }
    x[i] = v / MAX_PIXEL;
  });
  return x;
}

function route(trainer: Trainer, delay: IntervalHistogram) {
  return async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    try {
      if (req.url === '/status' && req.method === 'GET') {
        const ms = (ns: number) => Math.round(ns / 1e4) / 100;
        send(res, 200, {
          ...trainer.status,
          eventLoopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
        });
      } else if (req.url === '/predict' && req.method === 'POST') {
        const x = parsePixels(await readBody(req));
        send(res, 200, { digit: trainer.predict(x, 1)[0] });
      } else {
        throw new HttpError(404, 'ERR_NOT_FOUND', `${req.method} ${req.url}: try GET /status or POST /predict`);
      }
    } catch (err) {
      // The library's errors carry stable codes: a service can map them without parsing messages.
      if (err instanceof HttpError) send(res, err.status, { code: err.code, message: err.message });
      else if (isFusedOptimError(err)) send(res, 400, { code: err.code, message: err.message });
      else send(res, 500, { code: 'ERR_INTERNAL', message: String(err) });
    }
  };
}

/** Starts training and listening (port 0: any free port). */
export async function startService(options: TrainerOptions & { port?: number } = {}): Promise<Service> {
  const { port = 0, ...trainerOptions } = options;
  const trainer = new Trainer(trainerOptions);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const server = http.createServer(route(trainer, delay));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const training = trainer.start();
  const { port: bound } = server.address() as AddressInfo;
  return {
    server,
    trainer,
    url: `http://127.0.0.1:${bound}`,
    async close() {
      await trainer.stop();
      await training;
      delay.disable();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

if (require.main === module) {
  startService({
    port: Number(flag('port') ?? 8080),
    threads: Number(flag('threads') ?? 1),
    epochs: Number(flag('epochs') ?? 30),
    sync: process.argv.includes('--sync'),
  }).then(
    (service) => {
      console.log(`listening on ${service.url}`);
      const shutdown = () => void service.close().then(() => process.exit(0));
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
