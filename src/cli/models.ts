import { parseArgs } from 'node:util';

import { catalog, embeddingCatalog, hubCacheDir, listCachedModels, rerankerCatalog } from '../hub/index.js';
import { formatBytes } from '../hub/progress.js';
import { UsageError } from './args.js';

export const modelsUsage = `predict-otron models [--catalog [--embeddings | --rerankers]] [--json]
  Lists the models in the local Hugging Face cache (revisions, commits, sizes); --catalog lists
  the Gemma checkpoints on the hub instead (all gated: accept the licence on each model's page),
  --catalog --embeddings the embedding models (dimensions, longest input, task prefixes),
  --catalog --rerankers the rerankers (cross-encoders).`;

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export async function modelsCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { catalog: { type: 'boolean' }, embeddings: { type: 'boolean' }, rerankers: { type: 'boolean' }, json: { type: 'boolean' } },
    strict: true,
  });
  if ((values.embeddings || values.rerankers) && !values.catalog) throw new UsageError('--embeddings and --rerankers go with --catalog');
  if (values.embeddings && values.rerankers) throw new UsageError('--embeddings or --rerankers, not both');
  if (values.catalog && values.rerankers) {
    if (values.json) {
      process.stdout.write(JSON.stringify(rerankerCatalog) + '\n');
      return;
    }
    process.stdout.write(table(
      ['id', 'short name', 'arch', 'max tokens', 'languages', 'gated'],
      rerankerCatalog.map((e) => [e.id, e.id.split('/')[1]!, e.arch, String(e.maxTokens), e.languages, e.gated ? 'yes' : 'no']),
    ));
    return;
  }
  if (values.catalog && values.embeddings) {
    if (values.json) {
      process.stdout.write(JSON.stringify(embeddingCatalog) + '\n');
      return;
    }
    process.stdout.write(table(
      ['id', 'short name', 'arch', 'dimensions', 'matryoshka', 'max tokens', 'prefixes', 'gated'],
      embeddingCatalog.map((e) => [e.id, e.id.split('/')[1]!, e.arch, String(e.dimensions), e.minDimensions ? `${e.minDimensions}+` : '-',
        String(e.maxTokens), e.prefixes ? 'query/document' : '-', e.gated ? 'yes' : 'no']),
    ));
    return;
  }
  if (values.catalog) {
    if (values.json) {
      process.stdout.write(JSON.stringify(catalog) + '\n');
      return;
    }
    process.stdout.write(table(
      ['id', 'family', 'size', 'tuned', 'gated', 'context', 'model_type'],
      catalog.map((e) => [e.id, e.family, e.size, e.instruct ? 'it' : 'pt', e.gated ? 'yes' : 'no', String(e.contextLength), e.modelType]),
    ));
    return;
  }
  const dir = hubCacheDir();
  const models = listCachedModels(dir);
  if (values.json) {
    process.stdout.write(JSON.stringify(models) + '\n');
    return;
  }
  if (!models.length) {
    process.stdout.write(`no models in the cache (${dir}); get one with \`predict-otron pull <model>\`\n`);
    return;
  }
  const rows = models.flatMap((m) => (m.revisions.length ? m.revisions : [{ commit: '', refs: [], files: [], size: 0 }]).map((r) => [
    m.repo, r.refs.join(',') || '-', r.commit.slice(0, 7) || '-', formatBytes(r.size), r.files.join(' '),
  ]));
  process.stdout.write(table(['model', 'revision', 'commit', 'size', 'files'], rows));
}
