// GET /health (the process answers), /ready (the model is loaded and the server takes work),
// /metrics (Prometheus text exposition).
import type { Hono } from 'hono';

import type { Env, ServerContext } from '../context.js';

export function opsRoutes(app: Hono<Env>, ctx: ServerContext, state: () => 'loading' | 'ready' | 'failed' | 'draining'): void {
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', (c) => {
    const s = state();
    return c.json({ status: s, model: ctx.modelId }, s === 'ready' ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    const text = await ctx.metrics.registry.metrics();
    return c.body(text, 200, { 'content-type': ctx.metrics.registry.contentType });
  });
}
