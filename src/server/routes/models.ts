// GET /v1/models and /v1/models/:id: every model served, chat and embedding, each with its kind
// (and, for embeddings, its vector length), fields beyond OpenAI's Model object.
import type { Hono } from 'hono';

import type { Env } from '../context.js';
import { unknownModel, type Served } from '../served.js';

export interface ModelCard {
  served: Served<{ readonly closed: boolean }>;
  card: () => Record<string, unknown>;
}

export function modelsRoute(app: Hono<Env>, models: readonly ModelCard[]): void {
  const entry = (m: ModelCard) => ({ id: m.served.id, object: 'model', ...m.card() });
  app.get('/v1/models', (c) => c.json({ object: 'list', data: models.map(entry) }));
  // ids hold a slash (google/gemma-3-1b-it); the SDK sends it percent-encoded
  app.get('/v1/models/:id{.+}', (c) => {
    const id = c.req.param('id');
    const m = models.find((x) => x.served.ids.has(id));
    if (!m) throw unknownModel(id, 'a model', models.map((x) => x.served.id));
    return c.json(entry(m));
  });
}
