// The flow of a request answered with one JSON body (embeddings, rerank): the whole body read
// within its limits first, refused while draining, counted in flight with a signal that fires
// when the client goes away (which cancels the work; answered 499, as nginx logs it).
import { readJson } from '../body.js';
import type { Ctx, ServerContext } from '../context.js';
import { unavailable } from '../errors.js';

export async function jsonRequest(c: Ctx, ctx: ServerContext, answer: (body: unknown, signal: AbortSignal) => Promise<Response>): Promise<Response> {
  const raw = await readJson(c.req.raw, ctx.bodyLimit, ctx.bodyTimeoutMs, c.env?.incoming);
  if (ctx.tracker.draining) throw unavailable('the server is shutting down; retry on another replica');
  const ticket = ctx.tracker.begin(c.req.raw.signal);
  try {
    return await answer(raw, ticket.signal);
  } catch (err) {
    if (c.req.raw.signal.aborted && (err as { code?: string }).code === 'ERR_ABORTED') return new Response(null, { status: 499 });
    throw err;
  } finally {
    ticket.done();
  }
}
