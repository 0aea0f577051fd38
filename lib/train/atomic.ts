/**
 * Atomic file replacement: a reader of `path` sees either the old file or the complete new one,
 * never a torn mixture, even if the process dies or the machine loses power mid-write.
 *
 * The recipe: write the data to a temporary file in the same directory (a rename is only atomic
 * within one file system), fsync it so the data is on disk before the name points at it, rename
 * it over the target, then fsync the directory so the rename itself is durable. On any error the
 * temporary file is removed and the error rethrown; the target is untouched unless the rename
 * happened. A process killed between creating and renaming leaves a stale `.<name>.*.tmp` file
 * behind (nothing can remove it at that point); the target is still intact.
 */
import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { ErrorCodes, makeError } from '../errors';
import { describe } from '../validate';

/** What can be written: bytes, a list of chunks written in order (with writev), or UTF-8 text. */
export type AtomicData = Uint8Array | readonly Uint8Array[] | string;

export interface AtomicWriteOptions {
  /** Permission bits of a newly created file, before the umask (default 0o666, like fs.writeFile). */
  mode?: number;
}

/** Linux and macOS cap one writev at IOV_MAX (1024) buffers. */
const MAX_CHUNKS_PER_WRITE = 1024;

/** Errors from fsync on a directory that mean "this platform cannot do that" (Windows, some network file systems), not "it failed". */
const DIRECTORY_FSYNC_UNSUPPORTED = new Set(['EISDIR', 'EINVAL', 'EPERM', 'EBADF', 'ENOTSUP']);

/** Replaces `file` with `data` atomically and durably. Blocks until the data is on disk. */
export function writeFileAtomicSync(file: string, data: AtomicData, options: AtomicWriteOptions = {}): void {
  const chunks = toChunks(file, data);
  const temp = tempPathFor(file);
  let fd: number | null = null;
  try {
    fd = fs.openSync(temp, 'wx', options.mode ?? 0o666);
    writeAllSync(fd, chunks);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(temp, file);
  } catch (err) {
    if (fd !== null) closeQuietlySync(fd);
    removeQuietlySync(temp);
    throw err;
  }
  fsyncDirectorySync(path.dirname(file));
}

/** Replaces `file` with `data` atomically and durably, without blocking the event loop. */
export async function writeFileAtomic(file: string, data: AtomicData, options: AtomicWriteOptions = {}): Promise<void> {
  const chunks = toChunks(file, data);
  const temp = tempPathFor(file);
  let handle: fs.promises.FileHandle | null = null;
  try {
    handle = await fs.promises.open(temp, 'wx', options.mode ?? 0o666);
    await writeAll(handle, chunks);
    await handle.sync();
    await handle.close();
    handle = null;
    await fs.promises.rename(temp, file);
  } catch (err) {
    if (handle !== null) await handle.close().catch(() => undefined);
    await fs.promises.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  await fsyncDirectory(path.dirname(file));
}

function toChunks(file: unknown, data: unknown): Uint8Array[] {
  if (typeof file !== 'string' || file.length === 0) {
    throw makeError(ErrorCodes.INVALID_ARG_TYPE, `path: expected a non-empty string, got ${describe(file)}`);
  }
  if (typeof data === 'string') return [Buffer.from(data, 'utf8')];
  if (data instanceof Uint8Array) return [data];
  if (Array.isArray(data)) {
    data.forEach((chunk, i) => {
      if (!(chunk instanceof Uint8Array)) {
        throw makeError(ErrorCodes.INVALID_ARG_TYPE, `data[${i}]: expected a Buffer or Uint8Array, got ${describe(chunk)}`);
      }
    });
    return data.filter((chunk: Uint8Array) => chunk.length > 0);
  }
  throw makeError(
    ErrorCodes.INVALID_ARG_TYPE,
    `data: expected a Buffer, a Uint8Array, an Array of them or a string, got ${describe(data)}`,
  );
}

/**
 * A fresh name beside the target: hidden (leading dot), naming the target so a stale one can be
 * traced, unique across processes (pid) and within one (random suffix), opened with O_EXCL.
 */
function tempPathFor(file: string): string {
  const suffix = `${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  return path.join(path.dirname(file), `.${path.basename(file)}.${suffix}`);
}

/**
 * The chunks that remain after `written` bytes of `chunks` went out. A writev may write less
 * than asked (a signal, a full pipe, a quota); the rest is sent again from where it stopped.
 */
function remainingAfter(chunks: Uint8Array[], written: number): Uint8Array[] {
  let i = 0;
  while (i < chunks.length && written >= chunks[i].length) written -= chunks[i++].length;
  const rest = chunks.slice(i);
  if (rest.length > 0 && written > 0) rest[0] = rest[0].subarray(written);
  return rest;
}

/** A write that makes no progress would otherwise be retried forever. */
function checkProgress(written: number): number {
  if (written > 0) return written;
  throw Object.assign(new Error('writev wrote 0 bytes: the file system accepts no more data'), { code: 'EIO' });
}

function writeAllSync(fd: number, chunks: Uint8Array[]): void {
  let pending = chunks;
  while (pending.length > 0) {
    const batch = pending.slice(0, MAX_CHUNKS_PER_WRITE);
    pending = remainingAfter(pending, checkProgress(fs.writevSync(fd, batch)));
  }
}

async function writeAll(handle: fs.promises.FileHandle, chunks: Uint8Array[]): Promise<void> {
  let pending = chunks;
  while (pending.length > 0) {
    const batch = pending.slice(0, MAX_CHUNKS_PER_WRITE);
    const { bytesWritten } = await handle.writev(batch);
    pending = remainingAfter(pending, checkProgress(bytesWritten));
  }
}

function fsyncDirectorySync(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    if (!DIRECTORY_FSYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    if (fd !== null) closeQuietlySync(fd);
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  let handle: fs.promises.FileHandle | null = null;
  try {
    handle = await fs.promises.open(dir, 'r');
    await handle.sync();
  } catch (err) {
    if (!DIRECTORY_FSYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    if (handle !== null) await handle.close().catch(() => undefined);
  }
}

function closeQuietlySync(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // The write already failed; that error is the one worth reporting.
  }
}

function removeQuietlySync(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // Same: keep the original error. A leftover temp file never hides the target.
  }
}
