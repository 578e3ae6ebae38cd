// The flow both completion endpoints share: read and check the request, start its choices, then
// answer with one JSON body or an SSE stream. The client leaving cancels the work wherever it is
// (queued, prefilling, decoding), for streams and non-stream requests alike.
import crypto from 'node:crypto';

import type { GenerationResult } from '../../engine/generation-stream.js';
import type { GenerateOptions, LanguageModel } from '../../engine/language-model.js';
import { readJson } from '../body.js';
import { checkModel, type Ctx, type ServerContext } from '../context.js';
import { internalError, toApiError, unavailable } from '../errors.js';
import { type Input, type MergedEvent, mergeChoices, startChoices, usageOf } from '../generation.js';
import { userHash } from '../logging.js';
import { sseResponse } from '../sse.js';

export interface Base {
  id: string;
  object: string;
  created: number;
  model: string;
  system_fingerprint: string;
}

export interface Plan {
  model: string;
  inputs: Input[];
  n: number;
  options: GenerateOptions;
  stream: boolean;
  includeUsage: boolean;
  user: string | undefined;
  /** the whole answer of a non-stream request */
  body(results: GenerationResult[], base: Base, usage: ReturnType<typeof usageOf>): unknown;
  /** the SSE events of a stream: chunks as they come, a final one per choice (after `result` is set) */
  events(merged: AsyncIterable<MergedEvent>, base: Base): AsyncGenerator<unknown>;
  /** prompt text for the log, only when prompt logging is on */
  promptText(): string;
}

export async function generate(c: Ctx, ctx: ServerContext, kind: { object: string; chunkObject: string; idPrefix: string },
  plan: (body: unknown, model: LanguageModel) => Plan): Promise<Response> {
  const record = c.get('record');
  // the whole body first, within its deadline: a client trickling it holds no slot and is not a
  // request in flight that shutdown would wait for
  const raw = await readJson(c.req.raw, ctx.bodyLimit, ctx.bodyTimeoutMs, c.env?.incoming);
  if (ctx.tracker.draining) throw unavailable('the server is shutting down; retry on another replica');
  // the node adapter aborts this signal when the client's connection closes before the answer ends
  const ticket = ctx.tracker.begin(c.req.raw.signal);
  let handedOff = false;
  try {
    const model = ctx.model();
    const p = plan(raw, model);
    checkModel(ctx, p.model);
    Object.assign(record.fields, { model: p.model, n: p.n * p.inputs.length, stream: p.stream, user: userHash(p.user) });
    if (ctx.logPrompts) record.fields.prompt = p.promptText();

    const options: GenerateOptions = { ...p.options, signal: ticket.signal };
    const choices = await startChoices(model, p.inputs, p.n, options, p.stream, ticket.abort);
    const base: Base = {
      id: kind.idPrefix + crypto.randomBytes(12).toString('base64url'),
      object: p.stream ? kind.chunkObject : kind.object,
      created: Math.floor(Date.now() / 1000),
      model: p.model,
      system_fingerprint: ctx.fingerprint(),
    };
    const route = record.route;
    const finished = (results: GenerationResult[]) => {
      for (const r of results) ctx.metrics.generation(route, r);
      const u = usageOf(results, p.n);
      Object.assign(record.fields, {
        promptTokens: u.prompt_tokens, cachedTokens: u.prompt_tokens_details.cached_tokens, completionTokens: u.completion_tokens,
        finishReasons: results.map((r) => r.finishReason), ttftMs: Math.round(Math.min(...results.map((r) => r.timings.timeToFirstTokenMs))),
      });
      return u;
    };

    if (!p.stream) {
      try {
        const results = await Promise.all(choices.map((ch) => ch.stream.result));
        return c.json(p.body(results, base, finished(results)) as object);
      } catch (err) {
        ticket.abort();
        throw err;
      }
    }

    const results: GenerationResult[] = [];
    const merged = (async function* () {
      for await (const ev of mergeChoices(choices)) {
        if ('result' in ev) results[ev.index] = ev.result;
        yield ev;
      }
    })();
    let clientGone = false;
    let failedStatus: number | undefined; // a stream that fails after its 200 header is logged and counted with its error
    const events = (async function* () {
      try {
        yield* p.events(merged, base);
        const u = finished(results);
        if (p.includeUsage) yield { ...base, choices: [], usage: u };
      } catch (err) {
        const api = toApiError(err);
        failedStatus = api?.status ?? 500;
        if (!clientGone) record.fields.error = api?.message ?? 'internal error (logged as "stream failed")';
        throw err;
      } finally {
        ticket.done();
        record.end(clientGone ? 499 : failedStatus ?? 200);
      }
    })();
    record.deferred = true;
    handedOff = true;
    return sseResponse(events, {
      keepAliveMs: ctx.sseKeepAliveMs,
      cancel: () => {
        clientGone = true;
        ticket.abort();
      },
      // the record has its error already (events, above); this only writes the error event
      error: (err) => {
        const api = toApiError(err);
        if (!api) ctx.logger.error({ err, reqId: record.id }, 'stream failed');
        return (api ?? internalError(record.id)).body();
      },
    });
  } catch (err) {
    // the client left: nobody will read an answer (499, as nginx logs it)
    if (c.req.raw.signal.aborted && (err as { code?: string }).code === 'ERR_ABORTED') return new Response(null, { status: 499 });
    throw err;
  } finally {
    if (!handedOff) ticket.done();
  }
}
