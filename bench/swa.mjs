#!/usr/bin/env node
// The sliding-window KV cache (issue 15) next to llama.cpp on the gemma-3-270m shape (Q8_0, the
// real Gemma 3 vocabulary and template; 15 of its 18 layers slide over 512 positions):
//   1. serving memory: our server and llama-server with 8 slots at 4k, 16k and 32k contexts,
//      8 concurrent chat requests each filling about half its share; peak RSS of each process;
//   2. decode tokens/s at depth 0, 8k, 16k: `predict-otron bench --depth` (and the runtime without
//      Node.js, build/potron-bench) against `llama-bench -d`;
//   3. time to first token for a request sharing a 2k-token prefix with an earlier one (cold: the
//      earlier one's own; warm: the second's), when the earlier answer was short and when it ran
//      far past the window, through each server's OpenAI API.
// Runs alternate (ours, theirs) because this machine drifts.
//
//   node bench/swa.mjs [--threads N] [--rounds 2] [--parts memory,depth,prefix] [--ctx 4096,16384,32768]
//                      [--depths 0,8192,16384] [--reps 3] [--no-write]
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { benchModel, llamaTool, log, machine, physicalCores, recordResults, root } from './lib/common.mjs';
import { randomPort, sseMessages, startHttpServer } from './lib/servers.mjs';

const { values } = parseArgs({
  options: {
    threads: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    ctx: { type: 'string', default: '4096,16384,32768' },
    depths: { type: 'string', default: '0,8192,16384' },
    reps: { type: 'string', default: '3' },
    parts: { type: 'string', default: 'memory,depth,prefix' },
    'no-write': { type: 'boolean', default: false },
  },
});
const threads = Number(values.threads ?? physicalCores());
const rounds = Number(values.rounds);
const reps = String(Number(values.reps));
const parts = new Set(values.parts.split(','));
const file = benchModel('270m', 'q8_0', 'gemma3');
const EOS = 1;
const EOT = 106;
const ban = { [EOS]: -100, [EOT]: -100 };
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const mib = (b) => (b / 2 ** 20).toFixed(0);

function startServer(kind, ctx, parallel) {
  const port = randomPort();
  const [cmd, args, ready] = kind === 'llama'
    ? [llamaTool('llama-server'), ['-m', file, '-t', String(threads), '-c', String(ctx), '-np', String(parallel),
      '--host', '127.0.0.1', '--port', String(port), '--no-webui'], '/health']
    : [process.execPath, [path.join(root, 'bin', 'predict-otron.js'), 'serve', '--model', file, '--threads', String(threads),
      '--ctx', String(ctx), '--parallel', String(parallel), '--host', '127.0.0.1', '--port', String(port), '--log-level', 'silent',
      '--model-id', 'm', '--no-webui'], '/ready'];
  return startHttpServer(kind, cmd, args, port, ready);
}

function rss(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(status.match(new RegExp(`${key}:\\s+(\\d+) kB`))[1]) * 1024;
  return { now: kib('VmRSS'), peak: kib('VmHWM') };
}

/** A chat prompt of about `words` words (a token or so each), distinct per request. */
function longMessage(i, words) {
  const sentence = 'The keeper of the lighthouse counts the ships that pass at night and writes each one down. ';
  return `Request ${i}. ` + sentence.repeat(Math.ceil(words / 16));
}

/** One streaming chat request; resolves with its time to first content and its usage. */
async function chat(server, messages, maxTokens) {
  const t0 = performance.now();
  const own = server.kind === 'llama' ? { ignore_eos: true, cache_prompt: true } : {};
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages, stream: true, max_tokens: maxTokens, temperature: 0, logit_bias: ban, stream_options: { include_usage: true }, ...own }),
  });
  if (!res.ok) throw new Error(`${server.kind} server answered ${res.status}: ${await res.text()}`);
  let ttft = 0;
  let usage = null;
  let text = '';
  for await (const msg of sseMessages(res)) {
    const piece = msg.choices?.[0]?.delta?.content;
    if (piece) {
      text += piece;
      if (!ttft) ttft = performance.now() - t0;
    }
    if (msg.usage) usage = msg.usage;
  }
  return { ttft, usage, text };
}

// --- 1. serving memory ---------------------------------------------------------------------------
async function memory(kind, ctx) {
  const server = await startServer(kind, ctx, 8);
  try {
    const idle = rss(server.pid);
    const words = Math.floor(ctx / 16); // about half of each slot's share
    await Promise.all(Array.from({ length: 8 }, (_, i) => chat(server, [{ role: 'user', content: longMessage(i, words) }], 32)));
    return { idle: idle.now, ...rss(server.pid) };
  } finally {
    await server.stop();
  }
}

// --- 2. decode at depth ------------------------------------------------------------------------------
function oursDepth(depth) {
  const out = execFileSync(process.execPath, [path.join(root, 'bin', 'predict-otron.js'), 'bench', '--model', file, '--threads', String(threads),
    '--prompt', '16', '--gen', '128', '--reps', reps, '--depth', String(depth), '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(out).decode_tokens_per_s;
}

// the same steps from C++ (native/tools/bench.cpp): what Node.js and the N-API round trip add
function runtimeDepth(depth) {
  const exe = path.join(root, 'build', 'potron-bench');
  const r = spawnSync(exe, [file, String(threads), '0', '128', reps, String(depth)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${exe} failed (build it with npm run build:native): ${r.stderr}`);
  return JSON.parse(r.stdout).decode_tokens_per_s;
}

function llamaDepth(depth) {
  const r = spawnSync(llamaTool('llama-bench'), ['-m', file, '-t', String(threads), '-p', '0', '-n', '128', '-d', String(depth), '-r', reps, '-o', 'json'],
    { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`llama-bench failed: ${r.stderr}`);
  return JSON.parse(r.stdout).find((x) => x.n_gen > 0).avg_ts;
}

// --- 3. shared 2k prefix --------------------------------------------------------------------------------
async function sharedPrefix(kind, firstAnswer) {
  const server = await startServer(kind, 8192, 2);
  try {
    const system = { role: 'system', content: longMessage(0, 1800) };
    const first = await chat(server, [system, { role: 'user', content: 'What does the keeper count?' }], firstAnswer);
    const second = await chat(server, [system, { role: 'user', content: 'When does the keeper write?' }], 16);
    return { cold: first.ttft, warm: second.ttft, prompt: second.usage.prompt_tokens, cached: second.usage.prompt_tokens_details?.cached_tokens ?? null };
  } finally {
    await server.stop();
  }
}

const ctxs = parts.has('memory') ? values.ctx.split(',').map(Number) : [];
const depths = parts.has('depth') ? values.depths.split(',').map(Number) : [];
const mem = Object.fromEntries(ctxs.map((c) => [c, { ours: [], llama: [] }]));
const dec = Object.fromEntries(depths.map((d) => [d, { ours: [], runtime: [], llama: [] }]));
const answers = parts.has('prefix') ? [16, 1100] : [];
const ttft = Object.fromEntries(answers.map((a) => [a, { ours: [], llama: [] }]));
for (let r = 0; r < rounds; r++) {
  for (const c of ctxs) {
    for (const kind of ['ours', 'llama']) mem[c][kind].push(await memory(kind, c));
    log(`memory ${c}: ours ${mib(mem[c].ours.at(-1).peak)} MiB, llama-server ${mib(mem[c].llama.at(-1).peak)} MiB`);
  }
  for (const d of depths) {
    // the order turns each round: this CPU's clock drifts within minutes, and the first run after
    // another tool's was the slow one in earlier rounds
    const runs = [['ours', oursDepth], ['runtime', runtimeDepth], ['llama', llamaDepth]];
    for (let k = 0; k < runs.length; k++) {
      const [kind, run] = runs[(k + r) % runs.length];
      dec[d][kind].push(run(d));
    }
    log(`decode at depth ${d}: ours ${dec[d].ours.at(-1).toFixed(1)} (runtime alone ${dec[d].runtime.at(-1).toFixed(1)}), llama-bench ${dec[d].llama.at(-1).toFixed(1)} tokens/s`);
  }
  for (const a of answers) {
    for (const kind of ['ours', 'llama']) ttft[a][kind].push(await sharedPrefix(kind, a));
    const [o, l] = [ttft[a].ours.at(-1), ttft[a].llama.at(-1)];
    log(`shared prefix, first answer ${a} tokens: ours cold ${o.cold.toFixed(0)} warm ${o.warm.toFixed(0)} ms (cached ${o.cached}); ` +
      `llama-server cold ${l.cold.toFixed(0)} warm ${l.warm.toFixed(0)} ms (cached ${l.cached})`);
  }
}

const date = new Date().toISOString().slice(0, 10);
const peak = (xs) => Math.max(...xs.map((x) => x.peak));
const section = (on, lines) => (on ? [...lines, ''] : []);
const table = [
  `### ${date} — sliding-window KV cache, ${machine()}, ${threads} threads, gemma-3-270m shape Q8_0 (Gemma 3 vocabulary), ${rounds} alternating rounds`,
  '',
  ...section(ctxs.length, [
    'Serving memory: each server with 8 slots and the context below, 8 concurrent chat requests of about 1/16 of the context each (32 tokens generated); peak RSS of the process (ours includes Node.js).',
    '',
    '| context | ours peak RSS MiB | llama-server | ratio |',
    '| ---: | ---: | ---: | ---: |',
    ...ctxs.map((c) => `| ${c} | ${mib(peak(mem[c].ours))} | ${mib(peak(mem[c].llama))} | **${(peak(mem[c].ours) / peak(mem[c].llama)).toFixed(2)}×** |`),
  ]),
  ...section(depths.length, [
    `Decode at depth: 128 single-token steps after \`depth\` tokens in the cache (\`predict-otron bench --depth\` / \`llama-bench -d\`, ${reps} repetitions each; "runtime" is the same from C++ without Node.js, build/potron-bench), tokens/s, mean of rounds.`,
    '',
    '| depth | ours | runtime | llama-bench | ratio | runtime ratio |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...depths.map((d) => `| ${d} | ${mean(dec[d].ours).toFixed(1)} | ${mean(dec[d].runtime).toFixed(1)} | ${mean(dec[d].llama).toFixed(1)} | ` +
      `**${(mean(dec[d].ours) / mean(dec[d].llama)).toFixed(2)}×** | ${(mean(dec[d].runtime) / mean(dec[d].llama)).toFixed(2)}× |`),
  ]),
  ...section(answers.length, [
    'Shared prefix: a ~2k-token system message, then two questions after it (context 8192, 2 slots, greedy); cold = the first request\'s time to first token, warm = the second\'s; the first answer short, or run far past the 512-position window. Mean of rounds, ms.',
    '',
    '| first answer | ours cold | ours warm | warm / cold | cached tokens | llama-server cold | warm | warm / cold | cached tokens |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...answers.map((a) => {
      const o = ttft[a].ours;
      const l = ttft[a].llama;
      const ratio = (xs) => (mean(xs.map((x) => x.warm)) / mean(xs.map((x) => x.cold))).toFixed(2);
      return `| ${a} tokens | ${mean(o.map((x) => x.cold)).toFixed(0)} | ${mean(o.map((x) => x.warm)).toFixed(0)} | **${ratio(o)}×** | ${o.at(-1).cached} / ${o.at(-1).prompt} | ` +
        `${mean(l.map((x) => x.cold)).toFixed(0)} | ${mean(l.map((x) => x.warm)).toFixed(0)} | **${ratio(l)}×** | ${l.at(-1).cached ?? '?'} / ${l.at(-1).prompt} |`;
    }),
  ]),
].join('\n');
process.stdout.write(table + '\n');
if (!values['no-write']) recordResults(table);
