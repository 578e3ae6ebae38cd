import { parseArgs } from 'node:util';

import { type EmbeddingTask, loadEmbedder } from '../engine/embedder.js';
import { boolOption, dtypeOption, intOption, requireOption, UsageError } from './args.js';

export const embedUsage = `predict-otron embed --model REF [--task query|document] [--dimensions N] [--truncate] [--threads N] [TEXT ...]
  Prints one JSON line per text: {"index":i,"tokens":n,"embedding":[...]} (L2-normalized). Without
  TEXT, reads one text per line from stdin. --task applies the model card's query or document prefix.`;

async function stdinLines(): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/).filter((l) => l.length > 0);
}

export async function embedCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, task: { type: 'string' }, dimensions: { type: 'string' }, truncate: { type: 'boolean' },
      threads: { type: 'string' }, dtype: { type: 'string' }, 'flash-attn': { type: 'string' }, offline: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const ref = requireOption(values.model, 'model');
  const task = values.task;
  if (task !== undefined && task !== 'query' && task !== 'document') throw new UsageError(`--task must be query or document, not '${task}'`);
  const dimensions = intOption(values.dimensions, 'dimensions', undefined);
  const threads = intOption(values.threads, 'threads', undefined);
  const flashAttn = boolOption(values['flash-attn'], 'flash-attn');
  const dtype = dtypeOption(values.dtype);
  const texts = positionals.length ? positionals : await stdinLines();
  if (!texts.length) throw new UsageError('no text to embed: give TEXT arguments or lines on stdin');

  const embedder = await loadEmbedder(ref, {
    progress: 'auto', ...(threads ? { threads } : {}), ...(flashAttn !== undefined ? { flashAttn } : {}), ...(dtype ? { dtype } : {}),
    ...(values.offline ? { offline: true } : {}),
  });
  try {
    // in requests of the API's size, so any number of stdin lines works
    for (let start = 0; start < texts.length; start += 256) {
      const part = texts.slice(start, start + 256);
      const r = await embedder.embed(part, {
        ...(task ? { task: task as EmbeddingTask } : {}), ...(dimensions ? { dimensions } : {}), ...(values.truncate ? { truncate: true } : {}),
      });
      for (let i = 0; i < part.length; i++) {
        process.stdout.write(JSON.stringify({ index: start + i, tokens: r.inputTokens[i], embedding: Array.from(r.vectors[i]!) }) + '\n');
      }
    }
  } finally {
    await embedder.close();
  }
}
