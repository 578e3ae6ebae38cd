// GET /v1/models and /v1/models/:id
import type { Hono } from 'hono';

import { checkModel, type Env, type ServerContext } from '../context.js';

export function modelsRoute(app: Hono<Env>, ctx: ServerContext, card: () => { created: number; owned_by: string }): void {
  const entry = (id: string) => ({ id, object: 'model', ...card() });
  app.get('/v1/models', (c) => c.json({ object: 'list', data: [entry(ctx.modelId)] }));
  // ids hold a slash (google/gemma-3-1b-it); the SDK sends it percent-encoded
  app.get('/v1/models/:id{.+}', (c) => {
    const id = c.req.param('id');
    checkModel(ctx, id);
    return c.json(entry(ctx.modelId));
  });
}
