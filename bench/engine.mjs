#!/usr/bin/env node
// The engine end to end, next to llama.cpp, on the gemma-3-270m shape (Q8_0, random weights,
// the real Gemma 3 vocabulary and chat template):
//   1. one stream through the library API (chat template, tokenizer, sampling with top-k,
//      top-p, min-p and penalties on, streaming detokenisation): decode tokens/s against
//      llama-bench's tg on the same file and threads;
//   2. 1, 4 and 8 concurrent chat requests: aggregate generated tokens/s and time to first
//      token, against llama-server with as many slots (-np N), driven over HTTP with the same
//      sampling settings (its only interface);
//   3. the same through our own server (`predict-otron serve`) as streaming HTTP clients: the
//      cost of the HTTP layer, as a ratio of the library's own rate.
// Runs alternate (ours, theirs, ours, ...) because this machine drifts.
//
//   node bench/engine.mjs [--threads N] [--rounds 2] [--gen 128] [--conc 1,4,8] [--conc-gen 128] [--no-write]
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { loadModel } from '../dist/index.js';
import { benchModel, llamaTool, log, machine, physicalCores, recordResults, root } from './lib/common.mjs';
import { randomPort, sseMessages, startHttpServer } from './lib/servers.mjs';

const { values } = parseArgs({
  options: {
    threads: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    gen: { type: 'string', default: '128' },
    conc: { type: 'string', default: '1,4,8' },
    'conc-gen': { type: 'string', default: '128' },
    'no-write': { type: 'boolean', default: false },
  },
});
const threads = Number(values.threads ?? physicalCores());
const rounds = Number(values.rounds);
const gen = Number(values.gen);
const concGen = Number(values['conc-gen']);
const levels = values.conc.split(',').map(Number);

const file = benchModel('270m', 'q8_0', 'gemma3');
const EOS = 1;
const EOT = 106;
// the same settings on both sides; end tokens banned so every request generates its full count
const sampling = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repetitionPenalty: 1.1, presencePenalty: 0.2, frequencyPenalty: 0.2 };
const ban = { [EOS]: -100, [EOT]: -100 };
const question = (i) => [{ role: 'user', content: `Request ${i}: write a long story about a lighthouse keeper who collects ${i + 2} kinds of shells.` }];
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

// --- 1. single stream --------------------------------------------------------------------------
async function oursSingle() {
  const m = await loadModel(file, { threads, contextSize: 2048, parallel: 1 });
  try {
    await m.chat(question(0), { ...sampling, seed: 1, maxTokens: 8, logitBias: ban }); // warm-up
    const times = [];
    const s = m.chatStream(question(1), { ...sampling, seed: 2, maxTokens: gen, logitBias: ban });
    for await (const c of s) for (let i = 0; i < c.tokens.length; i++) times.push(performance.now());
    const r = await s.result;
    if (r.usage.completionTokens !== gen) throw new Error(`generated ${r.usage.completionTokens}, not ${gen}`);
    // decode rate: tokens after the first (which includes the prompt) over the time they took
    return (times.length - 1) / ((times.at(-1) - times[0]) / 1000);
  } finally {
    await m.close();
  }
}

function llamaBenchTg() {
  const r = spawnSync(llamaTool('llama-bench'), ['-m', file, '-t', String(threads), '-p', '0', '-n', String(gen), '-r', '1', '-o', 'json'],
    { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`llama-bench failed: ${r.stderr}`);
  return JSON.parse(r.stdout).find((x) => x.n_gen > 0).avg_ts;
}

// --- 2. concurrency --------------------------------------------------------------------------
async function oursConcurrent(n) {
  const m = await loadModel(file, { threads, contextSize: 1024 * n, parallel: n });
  try {
    await m.chat(question(0), { ...sampling, seed: 1, maxTokens: 4, logitBias: ban });
    const t0 = performance.now();
    const ttft = [];
    let tokens = 0;
    await Promise.all(Array.from({ length: n }, async (_, i) => {
      const s = m.chatStream(question(i + 1), { ...sampling, seed: 10 + i, maxTokens: concGen, logitBias: ban });
      let first = true;
      for await (const c of s) {
        if (first && c.tokens.length) {
          ttft.push(performance.now() - t0);
          first = false;
        }
        tokens += c.tokens.length;
      }
    }));
    const wall = (performance.now() - t0) / 1000;
    return { tps: tokens / wall, ttft: mean(ttft) };
  } finally {
    await m.close();
  }
}

/** Our server or llama-server, with n slots of 1024 cells each. */
function startServer(kind, n) {
  const port = randomPort();
  const [cmd, args, ready] = kind === 'llama'
    ? [llamaTool('llama-server'), ['-m', file, '-t', String(threads), '-c', String(1024 * n), '-np', String(n),
      '--host', '127.0.0.1', '--port', String(port), '--no-webui'], '/health']
    : [process.execPath, [path.join(root, 'bin', 'predict-otron.js'), 'serve', '--model', file, '--threads', String(threads),
      '--ctx', String(1024 * n), '--parallel', String(n), '--host', '127.0.0.1', '--port', String(port), '--log-level', 'silent', '--model-id', 'm'], '/ready'];
  return startHttpServer(kind, cmd, args, port, ready);
}

/**
 * One streaming chat request (OpenAI API); resolves with its first-token time, token count and
 * the arrival times of content chunks. Each server gets the same settings under its own names.
 */
async function serverChat(server, i, seed, maxTokens, t0) {
  const own = server.kind === 'llama' ? { repeat_penalty: sampling.repetitionPenalty, ignore_eos: true } : { repetition_penalty: sampling.repetitionPenalty };
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'm', messages: question(i), stream: true, max_tokens: maxTokens, seed,
      temperature: sampling.temperature, top_k: sampling.topK, top_p: sampling.topP, min_p: sampling.minP,
      presence_penalty: sampling.presencePenalty, frequency_penalty: sampling.frequencyPenalty, logit_bias: ban,
      stream_options: { include_usage: true }, ...own,
    }),
  });
  if (!res.ok) throw new Error(`${server.kind} server answered ${res.status}: ${await res.text()}`);
  let ttft = 0;
  let tokens = 0;
  const arrivals = [];
  for await (const msg of sseMessages(res)) {
    if (msg.choices?.[0]?.delta?.content) {
      arrivals.push(performance.now());
      if (!ttft) ttft = performance.now() - t0;
    }
    if (msg.usage) tokens = msg.usage.completion_tokens;
  }
  return { ttft, tokens, arrivals };
}

async function serverConcurrent(kind, n) {
  const server = await startServer(kind, n);
  try {
    await serverChat(server, 0, 1, 4, performance.now());
    const t0 = performance.now();
    const rs = await Promise.all(Array.from({ length: n }, (_, i) => serverChat(server, i + 1, 10 + i, concGen, t0)));
    const wall = (performance.now() - t0) / 1000;
    for (const r of rs) if (r.tokens !== concGen) throw new Error(`${kind} server generated ${r.tokens}, not ${concGen}`);
    return { tps: rs.reduce((a, r) => a + r.tokens, 0) / wall, ttft: mean(rs.map((r) => r.ttft)) };
  } finally {
    await server.stop();
  }
}

/** Single stream through our server: decode tokens/s from the arrival of streamed chunks. */
async function httpSingle() {
  const server = await startServer('ours', 1);
  try {
    await serverChat(server, 0, 1, 8, performance.now());
    const r = await serverChat(server, 1, 2, gen, performance.now());
    if (r.tokens !== gen) throw new Error(`our server generated ${r.tokens}, not ${gen}`);
    // chunks carry whole characters, so a few tokens may share one: count tokens, time chunks
    return (r.tokens - 1) / ((r.arrivals.at(-1) - r.arrivals[0]) / 1000);
  } finally {
    await server.stop();
  }
}

// --- run -------------------------------------------------------------------------------------
const single = { ours: [], theirs: [], http: [] };
for (let r = 0; r < rounds; r++) {
  log(`single stream: round ${r + 1}/${rounds}`);
  single.theirs.push(llamaBenchTg());
  single.ours.push(await oursSingle());
  single.http.push(await httpSingle());
}
log(`single stream: ours ${mean(single.ours).toFixed(1)} tok/s, llama-bench ${mean(single.theirs).toFixed(1)} (${(mean(single.ours) / mean(single.theirs)).toFixed(2)}x)`);

const conc = [];
for (const n of levels) {
  const runs = { ours: [], theirs: [], http: [] };
  for (let r = 0; r < rounds; r++) {
    log(`${n} concurrent: round ${r + 1}/${rounds}`);
    runs.theirs.push(await serverConcurrent('llama', n));
    runs.ours.push(await oursConcurrent(n));
    runs.http.push(await serverConcurrent('ours', n));
  }
  const s = (xs) => ({ tps: mean(xs.map((x) => x.tps)), ttft: mean(xs.map((x) => x.ttft)) });
  const row = { n, ours: s(runs.ours), theirs: s(runs.theirs), http: s(runs.http) };
  conc.push(row);
  log(`${n} concurrent: ours ${row.ours.tps.toFixed(1)} tok/s (TTFT ${row.ours.ttft.toFixed(0)} ms), ` +
    `our server ${row.http.tps.toFixed(1)} tok/s (TTFT ${row.http.ttft.toFixed(0)} ms), ` +
    `llama-server ${row.theirs.tps.toFixed(1)} tok/s (TTFT ${row.theirs.ttft.toFixed(0)} ms)`);
}

const date = new Date().toISOString().slice(0, 10);
const oursS = mean(single.ours);
const theirsS = mean(single.theirs);
const httpS = mean(single.http);
const base = conc.find((c) => c.n === 1);
const section = [
  `### ${date} — engine end to end, ${machine()}, ${threads} threads, gemma-3-270m shape Q8_0 with the Gemma 3 vocabulary, mean of ${rounds} alternating rounds`,
  '',
  `Sampling on both sides: temperature ${sampling.temperature}, top_k ${sampling.topK}, top_p ${sampling.topP}, min_p ${sampling.minP}, ` +
    `repetition ${sampling.repetitionPenalty}, presence ${sampling.presencePenalty}, frequency ${sampling.frequencyPenalty}; end tokens banned.`,
  '',
  `Single stream through the library API (chat template, tokenizer, sampling, streaming text), ${gen} tokens: ` +
    `**${oursS.toFixed(1)}** tok/s vs llama-bench tg${gen} **${theirsS.toFixed(1)}** → **${(oursS / theirsS).toFixed(2)}×**; ` +
    `through our server (streaming HTTP) **${httpS.toFixed(1)}** tok/s → **${(httpS / oursS).toFixed(2)}×** the library's rate`,
  '',
  `| concurrent requests (${concGen} tokens each) | library tok/s | our server tok/s | llama-server tok/s | library / llama-server | server / library | library TTFT ms | our server TTFT ms | llama-server TTFT ms | library scaling vs 1 | llama-server scaling vs 1 |`,
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...conc.map((c) => `| ${c.n} | ${c.ours.tps.toFixed(1)} | ${c.http.tps.toFixed(1)} | ${c.theirs.tps.toFixed(1)} | **${(c.ours.tps / c.theirs.tps).toFixed(2)}×** | ` +
    `**${(c.http.tps / c.ours.tps).toFixed(2)}×** | ${c.ours.ttft.toFixed(0)} | ${c.http.ttft.toFixed(0)} | ${c.theirs.ttft.toFixed(0)} | ` +
    `${base ? (c.ours.tps / base.ours.tps).toFixed(2) + '×' : '–'} | ${base ? (c.theirs.tps / base.theirs.tps).toFixed(2) + '×' : '–'} |`),
  '',
].join('\n');
process.stdout.write(section + '\n');
if (!values['no-write']) recordResults(section);
