#!/usr/bin/env node
// npm run demo: generates a tiny RANDOM-WEIGHT Gemma 3 that carries the real Gemma 3 vocabulary
// and chat template (no download, works offline), serves it with the OpenAI-compatible server,
// sends it one chat request and prints the answer. The words are noise — the weights are random —
// the point is to see the whole path working: template, tokenizer, scheduler, sampler, HTTP, SSE.
// `npm run demo -- --keep` keeps serving afterwards (Ctrl-C stops it), so you can try it with curl.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createLogger, loadModel, startServer } from '../dist/index.js';

const keep = process.argv.includes('--keep');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const file = path.join(root, 'test', '.models', 'demo-gemma3-vocab-random.gguf');
if (!fs.existsSync(file)) {
  console.log('generating the demo model (random weights, real Gemma 3 vocabulary) ...');
  execFileSync(process.execPath, [path.join(root, 'scripts', 'fetch-ggml.mjs')], { stdio: 'inherit' });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  execFileSync('python3', [path.join(root, 'scripts', 'make-tiny-gemma'), '--arch', 'gemma3', '--preset', 'tiny',
    '--vocab', 'gemma3', '--type', 'q8_0', '--seed', '7', '--out', file + '.tmp'], { stdio: 'inherit' });
  fs.renameSync(file + '.tmp', file);
}

const id = 'demo-gemma3-tiny-random';
const model = await loadModel(file, { contextSize: 2048, parallel: 4 });
const server = await startServer({
  model, modelId: id, host: '127.0.0.1', port: Number(process.env.PORT ?? 0),
  logger: createLogger({ level: keep ? 'info' : 'warn' }),
});
const { arch, hparams, nVocab, weightType } = model.info;
console.log(`\n*** ${id}: RANDOM WEIGHTS — not a trained model; its answers are gibberish by design ***`);
console.log(`    ${arch}, ${hparams.nLayer} layers, hidden ${hparams.nEmbd}, the real Gemma 3 vocabulary (${nVocab} tokens) and chat template, ${weightType}`);
console.log(`    serving the OpenAI API at ${server.url}/v1\n`);

const body = {
  model: id, stream: true, stream_options: { include_usage: true }, max_tokens: 24, seed: 1,
  messages: [{ role: 'user', content: 'Write a haiku about Node.js.' }],
};
console.log(`POST /v1/chat/completions  ${JSON.stringify(body.messages)}`);
process.stdout.write('answer (streamed): ');
const res = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
if (!res.ok) throw new Error(`the demo request failed: ${res.status} ${await res.text()}`);
let usage = null;
let finish = null;
let buffer = '';
for await (const bytes of res.body.pipeThrough(new TextDecoderStream())) {
  buffer += bytes;
  let end;
  while ((end = buffer.indexOf('\n\n')) >= 0) {
    const event = buffer.slice(0, end).replace(/^data: /, '');
    buffer = buffer.slice(end + 2);
    if (event === '[DONE]') continue;
    const chunk = JSON.parse(event);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (choice?.delta?.content) process.stdout.write(choice.delta.content);
    if (choice?.finish_reason) finish = choice.finish_reason;
  }
}
console.log(`\n  finish_reason: ${finish}; usage: ${JSON.stringify(usage)}\n`);

const curlAt = (base) => `curl ${base}/v1/chat/completions -H 'Content-Type: application/json' \\\n` +
  `  -d '{"model": "${id}", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16}'`;
const curl = curlAt(server.url);
if (keep) {
  console.log(`try it (Ctrl-C stops the server):\n  ${curl}\n  or open ${server.url}/ (the chat page), or run: npx predict-otron chat --url ${server.url}\n`);
  const stop = async () => {
    await server.close(5000);
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  await server.close(5000);
  console.log(`to keep the server running and try it yourself: PORT=8080 npm run demo -- --keep, then\n  ${curlAt('http://127.0.0.1:8080')}`);
  console.log('  or open http://127.0.0.1:8080/ (the chat page), or run: npx predict-otron chat');
  console.log('a real model: npx predict-otron serve --model google/gemma-3-270m-it (gated: set HF_TOKEN)');
}
