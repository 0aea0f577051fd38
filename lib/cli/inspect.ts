/**
 * `fusedoptim inspect <file>`: what a checkpoint holds. A fusedoptim checkpoint is checked in
 * full (readCheckpoint: structure, checksum, metadata) and summarised: progress, optimizer and
 * scheduler, history, and every tensor. Any other safetensors file is listed as tensors and raw
 * metadata. `--json` prints the same as one JSON document.
 */
import * as fs from 'fs';
import { CHECKPOINT_FORMAT, Checkpoint, readCheckpoint } from '../train/checkpoint';
import { stringifyNumbers } from '../train/history';
import { TensorRead, parseSafetensors } from '../train/safetensors';
import { CliIo, Command } from './io';

interface TensorSummary {
  name: string;
  dtype: string;
  shape: number[];
  elements: number;
  min: number;
  max: number;
  mean: number;
  nonFinite: number;
  /** The model's name for a param (layers.0.weight), when the checkpoint has names. */
  label?: string;
}

function summarise(name: string, t: TensorRead, label?: string): TensorSummary {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nonFinite = 0;
  for (const v of t.data) {
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const finite = t.data.length - nonFinite;
  return { name, dtype: t.dtype, shape: t.shape, elements: t.data.length, min, max, mean: finite > 0 ? sum / finite : NaN, nonFinite, ...(label && { label }) };
}

/** Tensor names in a readable order: param.2 before param.10. */
function naturalOrder(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

const num = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(5)).toString() : String(v));

export const inspectCommand: Command = {
  spec: {
    usage: 'fusedoptim inspect',
    description: "Prints a checkpoint's tensors (name, dtype, shape, statistics) and metadata: training progress,\noptimizer, scheduler, history. Checks the whole file first; any safetensors file can be listed.",
    positionals: ['checkpoint'],
    flags: [{ name: 'json', kind: 'boolean', help: 'print one JSON document instead of text' }],
  },

  async run(flags, [file], io: CliIo): Promise<number> {
    const bytes = fs.readFileSync(file);
    const parsed = parseSafetensors(bytes);
    const isCheckpoint = parsed.metadata.format === CHECKPOINT_FORMAT;
    const ck: Checkpoint | null = isCheckpoint ? readCheckpoint(bytes) : null;
    const names = ck?.paramNames ?? null;
    const tensors = [...parsed.tensors]
      .sort(([a], [b]) => naturalOrder(a, b))
      .map(([name, t]) => {
        const param = /^param\.(\d+)$/.exec(name);
        return summarise(name, t, param && names ? names[Number(param[1])] : undefined);
      });

    if (flags.json) {
      const metadata = ck
        ? {
            format: ck.metadata.format,
            version: ck.version,
            checksum: ck.metadata.checksum,
            optimizer: ck.optimizer ? { class: ck.optimizer.class, paramGroups: ck.optimizer.stateDict.paramGroups } : null,
            scheduler: ck.scheduler,
            progress: ck.progress,
            history: ck.history,
            extra: ck.extra,
          }
        : parsed.metadata;
      io.stdout.write(stringifyNumbers({ file, bytes: bytes.length, checkpoint: isCheckpoint, metadata, tensors }, 1) + '\n');
      return 0;
    }

    const out: string[] = [];
    const total = tensors.reduce((a, t) => a + t.elements, 0);
    if (ck) {
      out.push(`${file}: fusedoptim checkpoint, format version ${ck.version}, ${bytes.length} bytes, checksum ok`);
      if (ck.progress) {
        const p = ck.progress;
        out.push(`progress:  ${p.globalStep} optimizer steps, ${p.epoch} epochs done` + (p.batchInEpoch > 0 ? `, ${p.batchInEpoch} batches into epoch ${p.epoch + 1}` : '') + `, best validation loss ${p.bestValLoss === null ? 'none yet' : num(p.bestValLoss)}`);
      }
      if (ck.optimizer) {
        const steps = new Set(Object.values(ck.optimizer.stateDict.state).map((s) => s.step));
        ck.optimizer.stateDict.paramGroups.forEach((g, i) => {
          const { params, ...hyper } = g;
          out.push(`optimizer: ${ck.optimizer!.class} group ${i} (${params.length} params): ${Object.entries(hyper).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
        });
        out.push(`           step counts: ${[...steps].join(', ') || 'none (no step taken)'}`);
      }
      if (ck.scheduler) out.push(`scheduler: ${ck.scheduler.class} ${JSON.stringify(ck.scheduler.state)}`);
      if (ck.history) {
        const h = ck.history;
        const last = (xs: number[]) => (xs.length ? num(xs[xs.length - 1]) : '-');
        const metrics = Object.entries(h.valMetrics).map(([k, v]) => `, val ${k} ${last(v)}`).join('');
        out.push(`history:   ${h.trainLoss.length} steps (${h.skippedSteps.length} skipped), ${h.valLoss.length} epochs; last: train loss ${last(h.trainLoss)}, lr ${last(h.learningRate)}, val loss ${last(h.valLoss)}${metrics}`);
      }
      if (Object.keys(ck.extra).length) out.push(`extra:     ${JSON.stringify(ck.extra)}`);
    } else {
      out.push(`${file}: safetensors file (not a fusedoptim checkpoint), ${bytes.length} bytes`);
      for (const [k, v] of Object.entries(parsed.metadata)) out.push(`metadata ${k}: ${v}`);
    }
    out.push('', `tensors (${tensors.length}, ${total} elements):`);
    const rows = tensors.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`, String(t.elements), num(t.min), num(t.max), num(t.mean), t.nonFinite ? `${t.nonFinite} non-finite` : '', t.label ?? '']);
    const header = ['name', 'dtype', 'shape', 'elements', 'min', 'max', 'mean', '', 'param'];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    for (const r of [header, ...rows]) out.push('  ' + r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
    io.stdout.write(out.join('\n') + '\n');
    return 0;
  },
};
