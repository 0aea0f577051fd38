/** Streams that collect what a command writes, for the CLI tests. */
import { Writable } from 'stream';
import type { CliIo } from '../../lib/cli/io';

export interface CapturedIo extends CliIo {
  out(): string;
  err(): string;
}

function collector(chunks: string[]): Writable & { isTTY: boolean } {
  return Object.assign(
    new Writable({
      write(chunk, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    }),
    { isTTY: false },
  );
}

export function captureIo(): CapturedIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout: collector(stdout), stderr: collector(stderr), out: () => stdout.join(''), err: () => stderr.join('') };
}
