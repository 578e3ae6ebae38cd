#!/usr/bin/env node
// Embeddings per second on the bge-small (bert, CLS) and nomic-embed-text-v1.5 (nomic-bert, mean)
// shapes, F16 GGUF with the bert-base-uncased vocabulary: batches of 1, 32 and 256 short texts
// and 8 texts of 512 tokens, through our library, our server (/v1/embeddings) and llama-server
// --embedding on the same file and threads, over the same HTTP client. Target: our server
// >= 1.0x llama-server at every batch size. Alternating rounds (the machine drifts).
//
//   node bench/embeddings.mjs [--threads N] [--rounds 3] [--no-write]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { llamaTool, log, machine, physicalCores, recordResults, root, work } from './lib/common.mjs';
import { randomPort, startHttpServer } from './lib/servers.mjs';

const { values } = parseArgs({
  options: { threads: { type: 'string' }, rounds: { type: 'string', default: '3' }, 'no-write': { type: 'boolean', default: false } },
});
const threads = Number(values.threads ?? physicalCores());
const rounds = Number(values.rounds);
const { loadEmbedder } = await import(path.join(root, 'dist', 'index.js'));

function encoderFile(preset, arch) {
  const file = path.join(work, 'models', `${preset}-f16.gguf`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    log(`generating ${path.basename(file)}`);
    execFileSync('python3', [path.join(root, 'scripts', 'make-tiny-encoder'), '--arch', arch, '--preset', preset, '--vocab', 'bert',
      '--type', 'f16', '--seed', '1', '--out', file + '.tmp'], { stdio: 'inherit' });
    fs.renameSync(file + '.tmp', file);
  }
  return file;
}

const words = 'the keeper of a lighthouse counts ships that pass at night and writes each one down in a book'.split(' ');
const text = (i, n) => Array.from({ length: n }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' ');
const workloads = [
  { name: '1 short text', texts: [text(0, 12)] },
  { name: '32 short texts', texts: Array.from({ length: 32 }, (_, i) => text(i, 12)) },
  { name: '256 short texts', texts: Array.from({ length: 256 }, (_, i) => text(i, 12)) },
  { name: '8 texts of 512 tokens', texts: Array.from({ length: 8 }, (_, i) => text(i, 510)) }, // + [CLS] [SEP]
];

async function post(url, texts) {
  const res = await fetch(`${url}/v1/embeddings`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', input: texts, encoding_format: 'float' }),
  });
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  const body = await res.json();
  if (body.data.length !== texts.length) throw new Error(`${url} returned ${body.data.length} vectors for ${texts.length} texts`);
  return body.usage?.prompt_tokens;
}

/** Texts per second, the mean of `reps` timed calls after one warm-up. */
/** Texts per second in the steady state: the mean of `reps` timed calls after as many untimed
 * ones (a server's first calls also pay for compiling its request path). */
async function rate(fn, n, reps) {
  for (let r = 0; r < reps; r++) await fn();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) await fn();
  return (n * reps) / ((performance.now() - t0) / 1000);
}

const reps = (w) => (w.texts.length === 1 ? 100 : 3);

async function measure(file) {
  const out = {};
  // our library
  const emb = await loadEmbedder(file, { threads });
  try {
    for (const w of workloads) (out[w.name] ??= {}).lib = await rate(() => emb.embed(w.texts), w.texts.length, reps(w));
  } finally {
    await emb.close();
  }
  // our server and llama-server, one after the other
  for (const kind of ['ours', 'llama']) {
    const port = randomPort();
    const server = kind === 'llama'
      ? await startHttpServer(kind, llamaTool('llama-server'), ['-m', file, '-t', String(threads), '--embedding', '-c', '8192', '-b', '2048', '-ub', '2048',
        '--host', '127.0.0.1', '--port', String(port), '--no-webui'], port, '/health')
      : await startHttpServer(kind, process.execPath, [path.join(root, 'bin', 'predict-otron.js'), 'serve', '--embedding-model', `${file}=m`,
        '--threads', String(threads), '--host', '127.0.0.1', '--port', String(port), '--log-level', 'silent'], port, '/ready');
    try {
      for (const w of workloads) {
        const tokens = await post(server.url, w.texts);
        (out[w.name] ??= {})[kind] = await rate(() => post(server.url, w.texts), w.texts.length, reps(w));
        out[w.name][`${kind}Tokens`] = tokens;
      }
    } finally {
      await server.stop();
    }
  }
  return out;
}

const shapes = [
  { name: 'bge-small-en-v1.5 shape (bert, 384, 12 layers, CLS)', file: encoderFile('bge-small', 'bert') },
  { name: 'nomic-embed-text-v1.5 shape (nomic-bert, 768, 12 layers, mean)', file: encoderFile('nomic-v1.5', 'nomic-bert') },
];
const sections = [];
for (const shape of shapes) {
  const runs = [];
  for (let r = 0; r < rounds; r++) {
    log(`${shape.name}: round ${r + 1}/${rounds}`);
    runs.push(await measure(shape.file));
  }
  const mean = (w, k) => runs.reduce((a, x) => a + x[w][k], 0) / runs.length;
  const rows = workloads.map((w) => {
    const [lib, ours, llama] = ['lib', 'ours', 'llama'].map((k) => mean(w.name, k));
    const tokens = `${runs[0][w.name].oursTokens} / ${runs[0][w.name].llamaTokens}`;
    log(`${w.name}: library ${lib.toFixed(1)}, our server ${ours.toFixed(1)}, llama-server ${llama.toFixed(1)} texts/s (${(ours / llama).toFixed(2)}x)`);
    return `| ${w.name} | ${tokens} | ${lib.toFixed(1)} | ${ours.toFixed(1)} | ${llama.toFixed(1)} | **${(ours / llama).toFixed(2)}×** |`;
  });
  sections.push([`${shape.name}:`, '', '| batch | prompt tokens (ours / llama.cpp) | library texts/s | our server texts/s | llama-server texts/s | server / llama-server |',
    '| --- | --- | ---: | ---: | ---: | ---: |', ...rows, ''].join('\n'));
}
const date = new Date().toISOString().slice(0, 10);
const table = [
  `### ${date} — embeddings, ${machine()}, ${threads} threads, F16 GGUF with the bert-base-uncased vocabulary, mean of ${rounds} rounds`,
  '',
  'One POST /v1/embeddings per batch (float vectors), the same client for both servers; llama-server with --embedding -c 8192 -b 2048 -ub 2048. Target: ours ≥ 1.0× llama-server at every batch size.',
  '',
  ...sections,
].join('\n');
process.stdout.write(table + '\n');
if (!values['no-write']) recordResults(table);
