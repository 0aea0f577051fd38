/**
 * Atomic file replacement: a reader of `path` sees either the old file or the complete new one,
 * never a torn mixture, even if the process dies or the machine loses power mid-write.
 *
 * The recipe: write the data to a temporary file in the same directory (a rename is only atomic
 * within one file system), fsync it so the data is on disk before the name points at it, rename
 * it over the target, then fsync the directory so the rename itself is durable. On any error the
 * temporary file is removed and the error rethrown; the target is untouched unless the rename
 * happened, and the error names the target and says it was left as it was.
 *
 * A process killed between creating and renaming leaves a stale `.<name>.<pid>.<random>.tmp` file
 * behind (nothing can remove it at that point); the target is still intact. The next write into
 * that directory removes such files whose process is gone (isAtomicTempName tells them apart;
 * nobody else's files are touched, nor the temporary files of live processes).
 *
 * Replacing a file keeps its permission bits (the umask does not narrow them). A symbolic link
 * is written through: its final target is replaced and the link stays a link.
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

/** A chain of symbolic links longer than this is a loop (Linux's own limit is 40). */
const MAX_SYMLINK_HOPS = 40;

/** The file a write replaces: `file` itself, or the final target of the links it names. */
interface Target {
  path: string;
  /** The permission bits of the file being replaced, or null when there is none yet. */
  mode: number | null;
}

/** Replaces `file` with `data` atomically and durably. Blocks until the data is on disk. */
export function writeFileAtomicSync(file: string, data: AtomicData, options: AtomicWriteOptions = {}): void {
  const chunks = toChunks(file, data);
  let temp: string | null = null;
  let fd: number | null = null;
  let replaced = false;
  try {
    const target = resolveTargetSync(file);
    removeStaleTempFilesSync(path.dirname(target.path));
    temp = tempPathFor(target.path);
    fd = fs.openSync(temp, 'wx', target.mode ?? options.mode ?? 0o666);
    if (target.mode !== null) fs.fchmodSync(fd, target.mode);
    writeAllSync(fd, chunks);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(temp, target.path);
    replaced = true;
    fsyncDirectorySync(path.dirname(target.path));
  } catch (err) {
    if (fd !== null) closeQuietlySync(fd);
    if (temp !== null && !replaced) removeQuietlySync(temp);
    throw writeFailure(file, err, replaced);
  }
}

/** Replaces `file` with `data` atomically and durably, without blocking the event loop. */
export async function writeFileAtomic(file: string, data: AtomicData, options: AtomicWriteOptions = {}): Promise<void> {
  const chunks = toChunks(file, data);
  let temp: string | null = null;
  let handle: fs.promises.FileHandle | null = null;
  let replaced = false;
  try {
    const target = await resolveTarget(file);
    await removeStaleTempFiles(path.dirname(target.path));
    temp = tempPathFor(target.path);
    handle = await fs.promises.open(temp, 'wx', target.mode ?? options.mode ?? 0o666);
    if (target.mode !== null) await handle.chmod(target.mode);
    await writeAll(handle, chunks);
    await handle.sync();
    await handle.close();
    handle = null;
    await fs.promises.rename(temp, target.path);
    replaced = true;
    await fsyncDirectory(path.dirname(target.path));
  } catch (err) {
    if (handle !== null) await handle.close().catch(() => undefined);
    if (temp !== null && !replaced) await fs.promises.rm(temp, { force: true }).catch(() => undefined);
    throw writeFailure(file, err, replaced);
  }
}

/**
 * The error a failed write throws: the system's code (ENOSPC, EROFS, EACCES, ENOENT, ...) kept,
 * the message naming the file the caller gave (not the temporary one) and whether it was replaced.
 * Errors of our own (a bad argument) pass through unchanged.
 */
function writeFailure(file: string, err: unknown, renamed: boolean): unknown {
  const cause = err as NodeJS.ErrnoException;
  if (!(cause instanceof Error) || typeof cause.code !== 'string' || !cause.syscall) return err;
  const outcome = renamed
    ? 'it was replaced, but the directory entry may not be on disk yet'
    : `${JSON.stringify(file)} was left as it was`;
  return Object.assign(new Error(`cannot write ${JSON.stringify(file)}: ${cause.message}; ${outcome}`, { cause }), {
    code: cause.code,
    errno: cause.errno,
    syscall: cause.syscall,
    path: file,
  });
}

/** Follows `file` through symbolic links to the file to replace (which need not exist yet). */
function resolveTargetSync(file: string): Target {
  let current = file;
  for (let hop = 0; hop <= MAX_SYMLINK_HOPS; hop++) {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path: current, mode: null };
      throw err;
    }
    if (!stat.isSymbolicLink()) return { path: current, mode: stat.mode & 0o7777 };
    current = path.resolve(path.dirname(current), fs.readlinkSync(current));
  }
  throw symlinkLoop(file);
}

async function resolveTarget(file: string): Promise<Target> {
  let current = file;
  for (let hop = 0; hop <= MAX_SYMLINK_HOPS; hop++) {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.lstat(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path: current, mode: null };
      throw err;
    }
    if (!stat.isSymbolicLink()) return { path: current, mode: stat.mode & 0o7777 };
    current = path.resolve(path.dirname(current), await fs.promises.readlink(current));
  }
  throw symlinkLoop(file);
}

function symlinkLoop(file: string): Error {
  return Object.assign(new Error(`more than ${MAX_SYMLINK_HOPS} symbolic links to follow from ${JSON.stringify(file)}`), {
    code: 'ELOOP',
    syscall: 'readlink',
  });
}

/** `.<name>.<pid>.<12 hex digits>.tmp`: the temporary files tempPathFor names. */
const TEMP_NAME = /^\..+\.([1-9][0-9]*)\.[0-9a-f]{12}\.tmp$/;

/** True for the name (not the path) of a temporary file these writes create: what a directory listing should skip. */
export function isAtomicTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** The temporary files in `names` whose writing process is gone: a kill left them, and nobody will rename them. */
function staleTempNames(names: readonly string[]): string[] {
  return names.filter((name) => {
    const match = TEMP_NAME.exec(name);
    return match !== null && !processIsAlive(Number(match[1]));
  });
}

function processIsAlive(pid: number): boolean {
  if (pid === process.pid) return true; // this process's own writes may be in flight
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'; // EPERM: it exists, as another user
  }
}

/** Cleaning up is a courtesy: a directory that cannot be listed or a file already gone is no reason to fail the write. */
function removeStaleTempFilesSync(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return; // the open that follows reports what is wrong with the directory
  }
  for (const name of staleTempNames(names)) removeQuietlySync(path.join(dir, name));
}

async function removeStaleTempFiles(dir: string): Promise<void> {
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  await Promise.all(staleTempNames(names).map((name) => fs.promises.rm(path.join(dir, name), { force: true }).catch(() => undefined)));
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
