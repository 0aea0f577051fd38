/**
 * `fusedoptim inspect <file>`: what a checkpoint holds. A fusedoptim checkpoint is checked in
 * full (readCheckpoint: structure, checksum, metadata) and summarised: progress, optimizer and
 * scheduler, history, and every tensor. Any other safetensors file, of any dtype the format
 * defines (F16, BF16, I64, F8_E4M3, ...), is listed as tensors (name, dtype, shape, bytes,
 * statistics) and raw metadata. Given a folder (a run folder), it does that for each
 * .safetensors file in it, a damaged one reported as such (its error, naming it) without stopping
 * at it; the exit status is then 1. `--json` prints the same as one JSON document.
 *
 * A checkpoint with optimizer state says how big that state is (Optimizer.stateSize's count:
 * what `fusedoptim train` prints before it starts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { isFusedOptimError } from '../errors';
import { formatStateSize, stateSize } from '../optim/core/state_size';
import { CHECKPOINT_FORMAT, Checkpoint, inFile, readCheckpoint } from '../train/checkpoint';
import { elementCount, elementReader } from '../train/element_values';
import { stringifyNumbers } from '../train/history';
import { RawTensor, listSafetensors } from '../train/safetensors';
import { CliIo, Command } from './io';

interface TensorSummary {
  name: string;
  dtype: string;
  shape: number[];
  elements: number;
  /** Bytes in the data section. */
  bytes: number;
  min: number;
  max: number;
  mean: number;
  nonFinite: number;
  /** The model's name for a param (layers.0.weight), when the checkpoint has names. */
  label?: string;
}

function summarise(t: RawTensor, label?: string): TensorSummary {
  const read = elementReader(t.dtype);
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const elements = elementCount(t.dtype, t.bytes);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nonFinite = 0;
  for (let i = 0; i < elements; i++) {
    const v = read(view, i);
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const finite = elements - nonFinite;
  return { name: t.name, dtype: t.dtype, shape: t.shape, elements, bytes: t.bytes.length, min, max, mean: finite > 0 ? sum / finite : NaN, nonFinite, ...(label && { label }) };
}

/** Tensor names in a readable order: param.2 before param.10. */
function naturalOrder(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

const num = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(5)).toString() : String(v));

export const inspectCommand: Command = {
  spec: {
    usage: 'fusedoptim inspect',
    description:
      "Prints a checkpoint's tensors (name, dtype, shape, bytes, statistics) and metadata: training progress,\n" +
      'optimizer, scheduler, history. Checks the whole file first. Any safetensors file can be listed, of any\n' +
      'dtype; given a folder (a run folder), each .safetensors file in it is, the damaged ones marked\n' +
      '(then the exit status is 1). A checkpoint\'s optimizer state is sized: bytes by element type.',
    positionals: ['checkpoint'],
    flags: [{ name: 'json', kind: 'boolean', help: 'print one JSON document instead of text' }],
  },

  async run(flags, [target], io: CliIo): Promise<number> {
    const json = flags.json === true;
    if (!fs.statSync(target).isDirectory()) {
      const report = inspectFile(target);
      io.stdout.write(json ? stringifyNumbers(asJson(report), 1) + '\n' : asText(report));
      return 0;
    }
    // Only the folder's .safetensors files: the stale temporary file of an interrupted atomic write
    // (.last.safetensors.<pid>.<random>.tmp, lib/train/atomic.ts) is neither listed nor read.
    // Every file, a damaged one included: one bad file must not hide what the others hold.
    const reports = fs
      .readdirSync(target)
      .filter((name) => name.endsWith('.safetensors') && !name.startsWith('.'))
      .sort(naturalOrder)
      .map((name) => inspectOrDamaged(path.join(target, name)));
    if (json) io.stdout.write(stringifyNumbers({ folder: target, files: reports.map((r) => ('error' in r ? damagedJson(r) : asJson(r))) }, 1) + '\n');
    else io.stdout.write(reports.length === 0 ? `${target}: no .safetensors files\n` : reports.map((r) => ('error' in r ? damagedText(r) : asText(r))).join('\n'));
    const damaged = reports.filter((r): r is DamagedFile => 'error' in r);
    if (damaged.length === 0) return 0;
    io.stderr.write(`fusedoptim inspect: ${damaged.length} of ${reports.length} files damaged: ${damaged.map((d) => path.basename(d.file)).join(', ')}\n`);
    return 1;
  },
};

/** A file of a folder that could not be read: its error (naming it). */
interface DamagedFile {
  file: string;
  error: { code: string; message: string };
}

function inspectOrDamaged(file: string): FileReport | DamagedFile {
  try {
    return inspectFile(file);
  } catch (err) {
    if (!isFusedOptimError(err)) throw err;
    return { file, error: { code: err.code, message: err.message } };
  }
}

function damagedText({ file, error }: DamagedFile): string {
  return `${file}: DAMAGED: ${error.message} [${error.code}]\n`;
}

function damagedJson({ file, error }: DamagedFile): object {
  return { file, damaged: true, error };
}

/** What one file holds, checked in full. */
interface FileReport {
  file: string;
  bytes: number;
  /** The checkpoint, when the file is a fusedoptim checkpoint. */
  ck: Checkpoint | null;
  /** The raw safetensors metadata. */
  metadata: Record<string, string>;
  tensors: TensorSummary[];
}

function inspectFile(file: string): FileReport {
  const bytes = fs.readFileSync(file);
  const { parsed, ck } = inFile(file, () => {
    const parsed = listSafetensors(bytes);
    return { parsed, ck: parsed.metadata.format === CHECKPOINT_FORMAT ? readCheckpoint(bytes) : null };
  });
  const names = ck?.paramNames ?? null;
  const tensors = [...parsed.tensors]
    .sort((a, b) => naturalOrder(a.name, b.name))
    .map((t) => {
      const param = /^param\.(\d+)$/.exec(t.name);
      return summarise(t, param && names ? names[Number(param[1])] : undefined);
    });
  return { file, bytes: bytes.length, ck, metadata: parsed.metadata, tensors };
}

/** The per-param numbers of the optimizer state (step counts, LBFGS's nIter, ...), without its buffers. */
function stateNumbers(ck: Checkpoint): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [i, entry] of Object.entries(ck.optimizer!.stateDict.state)) {
    out[i] = {};
    for (const [key, value] of Object.entries(entry)) if (typeof value === 'number') out[i][key] = value;
  }
  return out;
}

function asJson({ file, bytes, ck, metadata, tensors }: FileReport): object {
  const described = ck
    ? {
        format: ck.metadata.format,
        version: ck.version,
        checksum: ck.metadata.checksum,
        optimizer: ck.optimizer
          ? { class: ck.optimizer.class, paramGroups: ck.optimizer.stateDict.paramGroups, state: stateNumbers(ck), stateSize: stateSize(ck.optimizer.stateDict.state) }
          : null,
        scheduler: ck.scheduler,
        progress: ck.progress,
        history: ck.history,
        extra: ck.extra,
        errorFeedback: ck.errorFeedback && { compression: ck.errorFeedback.compression, ranks: ck.errorFeedback.residuals.length },
      }
    : metadata;
  return { file, bytes, checkpoint: ck !== null, metadata: described, tensors };
}

function asText({ file, bytes, ck, metadata, tensors }: FileReport): string {
  const out: string[] = [];
  const total = tensors.reduce((a, t) => a + t.elements, 0);
  if (ck) {
    out.push(`${file}: fusedoptim checkpoint, format version ${ck.version}, ${bytes} bytes, checksum ok`);
    if (ck.progress) {
      const p = ck.progress;
      // Steps into the epoch where the checkpoint says (the same on any number of ranks), else this process's batches.
      const into = p.stepsInEpoch !== undefined ? (p.stepsInEpoch > 0 ? `, ${p.stepsInEpoch} steps into epoch ${p.epoch + 1}` : '') : p.batchInEpoch > 0 ? `, ${p.batchInEpoch} batches into epoch ${p.epoch + 1}` : '';
      out.push(`progress:  ${p.globalStep} optimizer steps, ${p.epoch} epochs done${into}, best validation loss ${p.bestValLoss === null ? 'none yet' : num(p.bestValLoss)}`);
    }
    if (ck.optimizer) {
      ck.optimizer.stateDict.paramGroups.forEach((g, i) => {
        const { params, ...hyper } = g;
        out.push(`optimizer: ${ck.optimizer!.class} group ${i} (${params.length} params): ${Object.entries(hyper).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
      });
      // Step counts, one per param, usually all equal; state without one (LBFGS's memory, all on
      // param 0) is shown by its numbers, its buffers being in the tensor list below.
      const numbers = Object.entries(stateNumbers(ck));
      const steps = new Set(numbers.filter(([, s]) => s.step !== undefined).map(([, s]) => s.step));
      if (steps.size > 0 || numbers.length === 0) out.push(`           step counts: ${[...steps].join(', ') || 'none (no step taken)'}`);
      for (const [i, s] of numbers) {
        if (s.step === undefined) out.push(`           state of param ${i}: ${Object.entries(s).map(([k, v]) => `${k}=${num(v)}`).join(' ')}`);
      }
      out.push(`           ${formatStateSize(stateSize(ck.optimizer.stateDict.state), ck.params.reduce((n, p) => n + p.data.length, 0))}`);
    }
    if (ck.scheduler) out.push(`scheduler: ${ck.scheduler.class} ${JSON.stringify(ck.scheduler.state)}`);
    if (ck.history) {
      const h = ck.history;
      const last = (xs: number[]) => (xs.length ? num(xs[xs.length - 1]) : '-');
      const metrics = Object.entries(h.valMetrics).map(([k, v]) => `, val ${k} ${last(v)}`).join('');
      out.push(`history:   ${h.trainLoss.length} steps (${h.skippedSteps.length} skipped), ${h.valLoss.length} epochs; last: train loss ${last(h.trainLoss)}, lr ${last(h.learningRate)}, val loss ${last(h.valLoss)}${metrics}`);
    }
    if (Object.keys(ck.extra).length) out.push(`extra:     ${JSON.stringify(ck.extra)}`);
    const feedback = ck.errorFeedback;
    if (feedback) out.push(`residuals: error feedback's, ${feedback.compression} rounding errors of ${feedback.residuals.length} ranks (residual.<rank>.<param>)`);
  } else {
    out.push(`${file}: safetensors file (not a fusedoptim checkpoint), ${bytes} bytes`);
    for (const [k, v] of Object.entries(metadata)) out.push(`metadata ${k}: ${v}`);
  }
  out.push('', `tensors (${tensors.length}, ${total} elements):`);
  const rows = tensors.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`, String(t.elements), String(t.bytes), num(t.min), num(t.max), num(t.mean), t.nonFinite ? `${t.nonFinite} non-finite` : '', t.label ?? '']);
  const header = ['name', 'dtype', 'shape', 'elements', 'bytes', 'min', 'max', 'mean', '', 'param'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  for (const r of [header, ...rows]) out.push('  ' + r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
  return out.join('\n') + '\n';
}
