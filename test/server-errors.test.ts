// Every error the engine can raise during a request has an HTTP status a client can act on, and
// a stream that fails after its 200 header is logged and counted with its error, not as a 200.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EngineError } from '../src/engine/errors.js';
import { RuntimeError } from '../src/runtime/errors.js';
import { toApiError } from '../src/server/errors.js';
import { gemma3VocabModel } from './helpers/models.js';
import { parsePrometheus, startTestServer, type TestServer } from './helpers/server.js';

describe('engine and runtime errors as HTTP', () => {
  it.each([
    ['ERR_INVALID_ARG', 400, 'invalid_request_error', 'invalid_value'],
    ['ERR_TEMPLATE', 400, 'invalid_request_error', 'invalid_messages'],
    ['ERR_CONTEXT_LENGTH', 400, 'invalid_request_error', 'context_length_exceeded'],
    ['ERR_QUEUE_FULL', 429, 'rate_limit_error', 'queue_full'],
    ['ERR_CONTEXT_FULL', 429, 'rate_limit_error', 'kv_cache_full'],
    ['ERR_NO_MEMORY', 503, 'server_error', 'unavailable'],
    ['ERR_CLOSED', 503, 'server_error', 'unavailable'],
    ['ERR_ABORTED', 503, 'server_error', 'unavailable'],
  ])('%s is %i %s (%s)', (code, status, type, apiCode) => {
    for (const err of [new EngineError(code as never, 'x'), new RuntimeError(code, 'x')]) {
      const api = toApiError(err)!;
      expect(api).not.toBeNull();
      expect({ status: api.status, type: api.type, code: api.code }).toEqual({ status, type, code: apiCode });
      if (status === 429 || status === 503) expect(api.headers['retry-after']).toBe('1');
    }
  });

  it('our own failures (ERR_BUSY, ERR_COMPUTE, ERR_NATIVE, a TypeError) are left to the 500 handler', () => {
    for (const err of [new RuntimeError('ERR_BUSY', 'x'), new RuntimeError('ERR_COMPUTE', 'x'), new RuntimeError('ERR_NATIVE', 'x'), new TypeError('x')]) {
      expect(toApiError(err)).toBeNull();
    }
  });
});

describe('a stream that fails part way', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(gemma3VocabModel, { contextSize: 512, parallel: 2, kvType: 'f32', flashAttn: false }, { modelId: 'm', logger: false });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('ends with an OpenAI error event, and is counted with that error in /metrics', async () => {
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 400, stream: true, logit_bias: { 1: -100, 106: -100 } }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    // after the first content, the model goes away under the stream (as on a forced shutdown)
    while (!text.includes('"content":"') || text.split('"content":"').length < 3) text += new TextDecoder().decode((await reader.read()).value);
    await t.model.close();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const events = text.split('\n\n').filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]').map((e) => JSON.parse(e.slice(6)));
    expect(events.at(-1)).toMatchObject({ error: { type: 'server_error', code: 'unavailable' } });
    const metrics = parsePrometheus(await (await fetch(`${t.url}/metrics`)).text());
    const counted = metrics.samples.filter((s) => s.name.endsWith('http_requests_total') && s.labels.route === '/v1/chat/completions');
    expect(counted.map((s) => [s.labels.status, s.value])).toEqual([['503', 1]]);
  });
});
