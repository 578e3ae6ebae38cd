import { parseArgs } from 'node:util';

import { resolveModel } from '../hub/index.js';
import { Batch, Model } from '../runtime/index.js';
import { deviceOptions, requireOption, runtimeArgs, runtimeOptions, UsageError } from './args.js';

export const logitsUsage = `predict-otron logits --model FILE --tokens 2,17,... [--threads N] [--kv-type f16|f32] [--flash-attn on|off] [--dtype auto|f32|f16|bf16] [--device auto|cpu|cuda[:N]|metal|rpc[:N]] [--gpu-layers N] [--rpc HOST:PORT]
  Prints {"n_vocab":V,"logits":[[...],...]}: the next-token logits after every position.`;

export async function logitsCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { ...runtimeArgs, tokens: { type: 'string' } },
    strict: true,
  });
  const { modelPath, threads, kvType, flashAttn, dtype, ...dev } = runtimeOptions(values);
  const tokenText = requireOption(values.tokens, 'tokens');
  const tokens = tokenText.split(',').map((s) => {
    const t = Number(s.trim());
    if (s.trim() === '' || !Number.isInteger(t) || t < 0) throw new UsageError(`--tokens: '${s}' is not a token id`);
    return t;
  });
  // any model reference: a path, an HF id (downloaded into the HF cache), org/repo:file.gguf
  const model = await Model.open((await resolveModel(modelPath)).path, { threads, dtype, ...(await deviceOptions(dev)) });
  try {
    const ctx = await model.createContext({
      nCtx: Math.max(tokens.length, 1),
      nSeqMax: 1,
      kvType,
      flashAttn,
    });
    const batch = new Batch();
    tokens.forEach((t, i) => batch.add(t, i, 0, true));
    const logits = await ctx.decode(batch);
    const V = model.info.nVocab;
    // Streamed row by row: the whole answer can be hundreds of MB for a 262k vocabulary.
    process.stdout.write(`{"n_vocab":${V},"logits":[`);
    for (let r = 0; r < logits.rows; r++) {
      process.stdout.write((r ? ',' : '') + '[' + Array.from(logits.row(r)).join(',') + ']');
    }
    process.stdout.write(']}\n');
  } finally {
    await model.close();
  }
}
