// GET /health (the process answers), /ready (the model is loaded and the server takes work),
// /metrics (Prometheus text exposition).
import type { Hono } from 'hono';

import type { Env, ServerContext } from '../context.js';
import type { Served } from '../served.js';

export function opsRoutes(app: Hono<Env>, ctx: ServerContext, state: () => 'loading' | 'ready' | 'failed' | 'draining',
  served: ReadonlyArray<Served<{ readonly closed: boolean }>>): void {
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', (c) => {
    const s = state();
    // `model`: the first served (the chat model when there is one); `models`: each with its state
    return c.json({ status: s, model: ctx.modelId, models: served.map((m) => ({ id: m.id, status: m.state })) }, s === 'ready' ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    const text = await ctx.metrics.registry.metrics();
    return c.body(text, 200, { 'content-type': ctx.metrics.registry.contentType });
  });
}
