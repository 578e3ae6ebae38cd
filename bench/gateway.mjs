#!/usr/bin/env node
// What the gateway costs: one inference replica (gemma-3-270m shape, Q8_0) asked directly and
// through `serve --role gateway`, in alternating rounds: time to the first streamed token, the
// rate of one stream, and 8 streams at once. Target: the hop adds about a millisecond and no
// throughput loss (ratios near 1.0).
//
//   node bench/gateway.mjs [--threads N] [--rounds 3] [--no-write]
import path from 'node:path';
import { parseArgs } from 'node:util';

import { benchModel, log, machine, physicalCores, recordResults, root } from './lib/common.mjs';
import { randomPort, startHttpServer } from './lib/servers.mjs';

const { values } = parseArgs({
  options: { threads: { type: 'string' }, rounds: { type: 'string', default: '3' }, 'no-write': { type: 'boolean', default: false } },
});
const threads = Number(values.threads ?? physicalCores());
const rounds = Number(values.rounds);
const bin = path.join(root, 'bin', 'predict-otron.js');
const file = benchModel('270m', 'q8_0');
// the random model must not stop early: its end tokens are banned
const noEnd = { 1: -100, 106: -100 };

async function stream(url, content, maxTokens) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content }], max_tokens: maxTokens, stream: true, logit_bias: noEnd, temperature: 0 }),
  });
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  let first = 0, chunks = 0, text = '';
  const decoder = new TextDecoder();
  for await (const bytes of res.body) {
    text += decoder.decode(bytes, { stream: true });
    let i;
    while ((i = text.indexOf('\n\n')) >= 0) {
      const event = text.slice(0, i);
      text = text.slice(i + 2);
      if (!event.startsWith('data: {')) continue;
      const delta = JSON.parse(event.slice(6)).choices?.[0]?.delta;
      if (delta?.content !== undefined && !first) first = performance.now() - t0;
      if (delta?.content) chunks++;
    }
  }
  return { ttft: first, total: performance.now() - t0, chunks };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const workloads = [
  // time to first token: a short prompt, one token, the median of 20 (after 5 untimed)
  { name: 'time to first token, ms (median of 20)', lowerIsBetter: true, async run(url) {
    for (let i = 0; i < 5; i++) await stream(url, `warm ${i}`, 1);
    const t = [];
    for (let i = 0; i < 20; i++) t.push((await stream(url, `Question ${i}: where is the lighthouse?`, 1)).ttft);
    return median(t);
  } },
  { name: 'one stream of 128 tokens, tokens/s', async run(url) {
    const r = await stream(url, 'Tell me a long story.', 128);
    return (r.chunks - 1) / ((r.total - r.ttft) / 1000);
  } },
  { name: '8 streams of 64 tokens at once, tokens/s', async run(url) {
    const t0 = performance.now();
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => stream(url, `Story number ${i}, please.`, 64)));
    return rs.reduce((a, r) => a + r.chunks, 0) / ((performance.now() - t0) / 1000);
  } },
];

const replicaPort = randomPort(), gatewayPort = replicaPort + 1000;
const replica = await startHttpServer('replica', process.execPath, [bin, 'serve', '--model', file, '--model-id', 'm', '--port', String(replicaPort),
  '--threads', String(threads), '--ctx', '8192', '--parallel', '8', '--no-webui', '--log-level', 'warn'], replicaPort, '/ready');
const gateway = await startHttpServer('gateway', process.execPath, [bin, 'serve', '--role', 'gateway', '--inference', replica.url,
  '--port', String(gatewayPort), '--no-webui', '--log-level', 'warn'], gatewayPort, '/ready');
const results = workloads.map(() => ({ direct: [], gateway: [] }));
try {
  for (let round = 0; round < rounds; round++) {
    for (const [i, w] of workloads.entries()) {
      // alternating which goes first, so neither always meets the machine in the same state
      const order = round % 2 ? ['gateway', 'direct'] : ['direct', 'gateway'];
      for (const side of order) results[i][side].push(await w.run(side === 'direct' ? replica.url : gateway.url));
      log(`round ${round + 1}: ${w.name}: direct ${results[i].direct.at(-1).toFixed(1)}, gateway ${results[i].gateway.at(-1).toFixed(1)}`);
    }
  }
} finally {
  await gateway.stop();
  await replica.stop();
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows = workloads.map((w, i) => {
  const d = mean(results[i].direct), g = mean(results[i].gateway);
  return `| ${w.name} | ${d.toFixed(1)} | ${g.toFixed(1)} | **${(g / d).toFixed(2)}×** |`;
});
const section = `### ${new Date().toISOString().slice(0, 10)} — gateway overhead, ${machine()}, ${threads} threads, gemma-3-270m shape Q8_0, mean of ${rounds} rounds

One inference replica (\`serve --model\`, 8 parallel), asked directly and through \`serve --role gateway\` on the same machine (loopback), alternating. Through / direct: for the time to first token lower is better, for rates higher.

| measure | direct | through the gateway | through / direct |
| --- | ---: | ---: | ---: |
${rows.join('\n')}
`;
process.stdout.write(section);
if (!values['no-write']) recordResults(section);
