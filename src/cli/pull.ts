import { parseArgs } from 'node:util';

import { resolveModel } from '../hub/index.js';
import { UsageError } from './args.js';

export const pullUsage = `predict-otron pull <model> [--offline] [--quiet] [--json]
  Downloads a model into the Hugging Face cache (HF_HUB_CACHE or $HF_HOME/hub) and checks every
  file against the hub's sha256 / git ids, then prints its local path (--json: the whole result).
  <model>: an HF id with an optional @revision (google/gemma-3-1b-it@main), org/repo:file.gguf,
  or a local path. Gated repos need HF_TOKEN or \`huggingface-cli login\`.`;

export async function pullCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { offline: { type: 'boolean' }, quiet: { type: 'boolean' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length ? 'give one model at a time' : 'which model? give its id');
  const resolved = await resolveModel(positionals[0]!, {
    offline: values.offline || undefined,
    progress: values.quiet ? 'none' : 'auto',
    verify: true,
  });
  process.stdout.write((values.json ? JSON.stringify(resolved) : resolved.path) + '\n');
}
