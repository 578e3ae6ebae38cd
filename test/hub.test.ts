// The hub client against a local server that speaks the hub's protocol (test/helpers/fake-hub.ts):
// cache layout as huggingface_hub writes it, only the needed files, resume, checksums, errors.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  catalog, embeddingCatalog, embeddingCatalogEntry, HubError, listCachedModels, parseModelRef, rerankerCatalog, rerankerCatalogEntry, resolveModel, type HubLogger, type ResolveOptions,
} from '../src/hub/index.js';
import { resolveToken } from '../src/hub/token.js';
import { Batch, Model } from '../src/runtime/index.js';
import { FakeHub, gitOid, safetensorsFile, sha256, type FakeFile } from './helpers/fake-hub.js';
import { encoderModels, hfModel, hfTwin, root, testTokens, tinyModel, xlmrReranker } from './helpers/models.js';

const GOOD = 'hf_goodTokenWithAccess0123456789';
const NOACCESS = 'hf_validTokenWithoutAccess987654';
const BAD = 'hf_unknownTokenEchoedBack55555';

const C1 = '1111111111111111111111111111111111111111';
const C2 = '2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c';
const C3 = '3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d';
const C4 = '4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e';

const gguf = fs.readFileSync(tinyModel('gemma3', 'q8_0'));
const bigGguf = fs.readFileSync(tinyModel('gemma3', 'f32'));
const json = (o: unknown): FakeFile => ({ content: Buffer.from(JSON.stringify(o, null, 2) + '\n') });
const config = json({ architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', hidden_size: 64, num_hidden_layers: 2, vocab_size: 384 });
const tokenizer = json({ version: '1.0', model: { type: 'BPE', vocab: { '<pad>': 0, '<eos>': 1, '<bos>': 2 }, merges: [] } });
const tokenizerConfig = json({ bos_token: '<bos>', eos_token: '<eos>', chat_template: '{{ bos_token }}' });
const weights: FakeFile = { content: safetensorsFile('model.embed_tokens.weight', 60_000, 7), lfs: true };
const weightsV1: FakeFile = { content: safetensorsFile('model.embed_tokens.weight', 1000, 3), lfs: true };
const shard1: FakeFile = { content: safetensorsFile('model.layers.0.mlp.up_proj.weight', 20_000, 11), lfs: true };
const shard2: FakeFile = { content: safetensorsFile('model.layers.1.mlp.up_proj.weight', 20_000, 12), lfs: true };

function hfFiles(w: FakeFile): Record<string, FakeFile> {
  return {
    '.gitattributes': { content: Buffer.from('*.safetensors filter=lfs diff=lfs merge=lfs -text\n') },
    'README.md': { content: Buffer.from('---\nlicense: gemma\n---\n# tiny\n') },
    'config.json': config,
    'generation_config.json': json({ bos_token_id: 2, eos_token_id: 1 }),
    'tokenizer.json': tokenizer,
    'tokenizer_config.json': tokenizerConfig,
    'model.safetensors': w,
    // what repos also carry and a runtime must not fetch
    'gemma-tiny.gguf': { content: bigGguf, lfs: true },
    'pytorch_model.bin': { content: Buffer.alloc(300_000, 7), lfs: true },
  };
}

/** Next-token logits after every position of a fixed sequence. */
async function logits(file: string): Promise<number[][]> {
  const tokens = testTokens(12, 384);
  const m = await Model.open(file, { threads: 1 });
  const ctx = await m.createContext({ nCtx: tokens.length, kvType: 'f32' });
  const batch = new Batch();
  tokens.forEach((t, i) => batch.add(t, i, 0, true));
  const l = await ctx.decode(batch);
  const rows = Array.from({ length: tokens.length }, (_, i) => Array.from(l.row(i)));
  await m.close();
  return rows;
}

let hub: FakeHub;
let tmp: string;
let cacheDir: string;
const warnings: string[] = [];
const quiet: HubLogger = { info: () => {}, warn: (m) => warnings.push(m) };
const opts = (o: ResolveOptions = {}): ResolveOptions => ({ endpoint: hub.url, cacheDir, progress: 'none', logger: quiet, token: GOOD, ...o });
const repoDir = (id: string) => path.join(cacheDir, 'models--' + id.replace('/', '--'));

async function rejects(p: Promise<unknown>): Promise<HubError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(HubError);
    return err as HubError;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  hub = await new FakeHub().start();
  hub.validTokens.add(GOOD).add(NOACCESS);
  hub.addRepo({
    id: 'test-org/tiny-gemma-GGUF',
    commits: { [C1]: { 'README.md': { content: Buffer.from('# GGUF\n') }, 'tiny-q8_0.gguf': { content: gguf, lfs: true }, 'tiny-f32.gguf': { content: bigGguf, lfs: true },
      'sub/dir/tiny.gguf': { content: gguf, lfs: true } } },
    refs: { main: C1 },
  });
  hub.addRepo({
    id: 'test-org/tiny-gemma-it',
    gated: 'manual',
    allowed: [GOOD],
    commits: { [C2]: hfFiles(weights), [C1]: hfFiles(weightsV1) },
    refs: { main: C2, 'v1.0': C1 },
  });
  hub.addRepo({
    id: 'test-org/tiny-sharded',
    commits: {
      [C3]: {
        'config.json': config, 'tokenizer.json': tokenizer, 'tokenizer_config.json': tokenizerConfig,
        'special_tokens_map.json': json({ bos_token: '<bos>' }),
        'model.safetensors.index.json': json({
          metadata: { total_size: 160_000 },
          weight_map: {
            'model.layers.0.mlp.up_proj.weight': 'model-00001-of-00002.safetensors',
            'model.layers.1.mlp.up_proj.weight': 'model-00002-of-00002.safetensors',
          },
        }),
        'model-00001-of-00002.safetensors': shard1,
        'model-00002-of-00002.safetensors': shard2,
        'original/consolidated.00.pth': { content: Buffer.alloc(200_000, 1), lfs: true },
      },
    },
    refs: { main: C3 },
  });
  // the generator's HF directories (config.json + safetensors, single and sharded), as repos
  for (const sharded of [false, true]) {
    const dir = hfModel('gemma3', 'bf16', sharded);
    const files: Record<string, FakeFile> = { 'tokenizer.json': tokenizer, 'tokenizer_config.json': tokenizerConfig };
    for (const f of fs.readdirSync(dir)) files[f] = { content: fs.readFileSync(path.join(dir, f)), lfs: f.endsWith('.safetensors') };
    files['tiny-gemma3-bf16.gguf'] = { content: fs.readFileSync(hfTwin('gemma3', 'bf16')), lfs: true };
    hub.addRepo({ id: `test-org/tiny-gemma3-hf${sharded ? '-sharded' : ''}`, gated: 'manual', allowed: [GOOD], commits: { [C3]: files }, refs: { main: C3 } });
  }
  // a sentence-transformers repo as bge's: the pooling config in a subfolder, and other formats beside
  {
    const dir = encoderModels[0]!.hfDir; // CLS pooling
    const files: Record<string, FakeFile> = {};
    const walk = (d: string, rel: string) => {
      for (const f of fs.readdirSync(d)) {
        const full = path.join(d, f);
        if (fs.statSync(full).isDirectory()) walk(full, `${rel}${f}/`);
        else files[`${rel}${f}`] = { content: fs.readFileSync(full), lfs: f.endsWith('.safetensors') };
      }
    };
    walk(dir, '');
    files['onnx/model.onnx'] = { content: Buffer.alloc(100_000, 2), lfs: true };
    files['pytorch_model.bin'] = { content: Buffer.alloc(100_000, 3), lfs: true };
    hub.addRepo({ id: 'test-org/tiny-bge', commits: { [C4]: files }, refs: { main: C4 } });
  }
  {
    // the tiny XLM-R cross-encoder standing in for BAAI/bge-reranker-v2-m3, as its repo holds it
    const files: Record<string, { content: Buffer; lfs?: boolean }> = {};
    for (const f of fs.readdirSync(xlmrReranker.hfDir)) {
      files[f] = { content: fs.readFileSync(path.join(xlmrReranker.hfDir, f)), lfs: f.endsWith('.safetensors') || f.endsWith('.model') };
    }
    files['pytorch_model.bin'] = { content: Buffer.alloc(100_000, 3), lfs: true };
    hub.addRepo({ id: 'BAAI/bge-reranker-v2-m3', commits: { [C4]: files }, refs: { main: C4 } });
  }
  hub.addRepo({
    id: 'test-org/private-model',
    private: true,
    allowed: [GOOD],
    commits: { [C4]: { 'tiny.gguf': { content: gguf, lfs: true } } },
    refs: { main: C4 },
  });
  hub.addRepo({
    id: 'test-org/evil-index',
    commits: {
      [C4]: {
        'config.json': config, 'tokenizer.json': tokenizer, 'tokenizer_config.json': tokenizerConfig,
        'model.safetensors.index.json': json({ weight_map: { a: '../../../../etc/passwd.safetensors' } }),
      },
    },
    refs: { main: C4 },
  });
});

afterAll(async () => {
  await hub.close();
});

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-hub-'));
  cacheDir = path.join(tmp, 'hub');
  hub.requests.length = 0;
  hub.drops.clear();
  hub.corrupt.clear();
  warnings.length = 0;
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('parseModelRef', () => {
  it('reads HF ids, revisions, GGUFs in repos and local paths', () => {
    expect(parseModelRef('google/gemma-3-1b-it')).toEqual({ kind: 'hub', repo: 'google/gemma-3-1b-it' });
    expect(parseModelRef('google/gemma-3-1b-it@main')).toEqual({ kind: 'hub', repo: 'google/gemma-3-1b-it', revision: 'main' });
    expect(parseModelRef(`google/gemma-2b@${C1}`)).toEqual({ kind: 'hub', repo: 'google/gemma-2b', revision: C1 });
    expect(parseModelRef('org/repo@refs/pr/1')).toEqual({ kind: 'hub', repo: 'org/repo', revision: 'refs/pr/1' });
    expect(parseModelRef('unsloth/gemma-3-1b-it-GGUF:gemma-3-1b-it-Q8_0.gguf')).toEqual(
      { kind: 'hub', repo: 'unsloth/gemma-3-1b-it-GGUF', file: 'gemma-3-1b-it-Q8_0.gguf' });
    expect(parseModelRef('org/repo@v1.0:sub/x.gguf')).toEqual({ kind: 'hub', repo: 'org/repo', revision: 'v1.0', file: 'sub/x.gguf' });
    expect(parseModelRef('org/repo:x.gguf@v2')).toEqual({ kind: 'hub', repo: 'org/repo', revision: 'v2', file: 'x.gguf' });
    expect(parseModelRef(tinyModel('gemma'))).toEqual({ kind: 'local-gguf', path: tinyModel('gemma') });
    expect(parseModelRef(path.join(root, 'test'))).toEqual({ kind: 'local-dir', path: path.join(root, 'test') });
    expect(parseModelRef('/nonexistent/model.gguf')).toEqual({ kind: 'local-gguf', path: '/nonexistent/model.gguf' });
    expect(parseModelRef('model.gguf')).toEqual({ kind: 'local-gguf', path: path.resolve('model.gguf') });
  });

  it('rejects what is none of those, with a code', () => {
    for (const bad of ['', 'gemma', 'a/b/c', 'org/re po', 'org/repo@', 'org/repo@../../x', 'org/repo:../x.gguf',
      'org/repo:model.safetensors', 'org/repo@a:x.gguf@b', 'org--x/y', '-org/x']) {
      expect(() => parseModelRef(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_BAD_MODEL_REF' }));
    }
    expect(() => parseModelRef('./missing-dir')).toThrow(expect.objectContaining({ code: 'ERR_MODEL_NOT_FOUND' }));
  });
});

describe('catalog', () => {
  it('lists every Gemma 1, 1.1, CodeGemma, 2 and 3 checkpoint, all gated', () => {
    const ids = catalog.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ['google/gemma-2b', 'google/gemma-7b-it', 'google/gemma-1.1-2b-it', 'google/codegemma-7b-it',
      'google/codegemma-1.1-2b', 'google/gemma-2-27b-it', 'google/gemma-3-270m', 'google/gemma-3-1b-pt', 'google/gemma-3-27b-it']) {
      expect(ids).toContain(id);
    }
    expect(ids).toHaveLength(27);
    expect(catalog.every((e) => e.gated)).toBe(true);
    for (const e of catalog) expect(parseModelRef(e.id)).toEqual({ kind: 'hub', repo: e.id });
    expect(catalog.find((e) => e.id === 'google/gemma-3-1b-it')).toMatchObject({ family: 'gemma3', size: '1b', instruct: true, modelType: 'gemma3_text' });
  });
});

describe('embedding models from the hub', () => {
  it('fetches sentence-transformers\' module configs with the model (the pooling decides the vector), not the other formats', async () => {
    const { loadEmbedder } = await import('../src/engine/embedder.js');
    const before = hub.requests.length;
    const e = await loadEmbedder('test-org/tiny-bge', { ...opts(), threads: 1 });
    try {
      expect(e.info).toMatchObject({ format: 'hf', pooling: 'cls' });
      const fetched = hub.requests.slice(before).map((r) => r.path);
      expect(fetched.some((p) => p.endsWith('/1_Pooling/config.json'))).toBe(true);
      expect(fetched.some((p) => p.endsWith('/modules.json'))).toBe(true);
      expect(fetched.some((p) => /onnx|pytorch_model/.test(p))).toBe(false);
      const local = await loadEmbedder(encoderModels[0]!.hfDir, { threads: 1 });
      const [a, b] = [await e.embed(['hello world']), await local.embed(['hello world'])];
      await local.close();
      expect(Array.from(a.vectors[0]!)).toEqual(Array.from(b.vectors[0]!));
    } finally {
      await e.close();
    }
  });
});

describe('embedding catalog', () => {
  it('finds a model by HF id or short name, any case; lists dimensions, lengths and prefixes as the model cards say', () => {
    expect(embeddingCatalogEntry('nomic-embed-text-v1.5')?.id).toBe('nomic-ai/nomic-embed-text-v1.5');
    expect(embeddingCatalogEntry('BAAI/BGE-small-en-v1.5')).toMatchObject({ id: 'BAAI/bge-small-en-v1.5', dimensions: 384, maxTokens: 512 });
    expect(embeddingCatalogEntry('all-MiniLM-L6-v2')).toMatchObject({ id: 'sentence-transformers/all-MiniLM-L6-v2', dimensions: 384 });
    expect(embeddingCatalogEntry('all-MiniLM-L6-v2')?.prefixes).toBeUndefined();
    expect(embeddingCatalogEntry('e5-base-v2')?.prefixes).toEqual({ query: 'query: ', document: 'passage: ' });
    expect(embeddingCatalogEntry('embeddinggemma-300m')).toMatchObject({ gated: true, dimensions: 768, minDimensions: 128 });
    expect(embeddingCatalogEntry('gemma-3-1b-it')).toBeUndefined();
    const ids = embeddingCatalog.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    const shorts = ids.map((id) => id.split('/')[1]!.toLowerCase());
    expect(new Set(shorts).size).toBe(shorts.length); // a short name names one model
    for (const e of embeddingCatalog) {
      expect(parseModelRef(e.id)).toEqual({ kind: 'hub', repo: e.id });
      if (e.minDimensions) expect(e.minDimensions).toBeLessThan(e.dimensions);
    }
  });
});

describe('reranker catalog', () => {
  it('finds a reranker by HF id or short name; a short name loads the hub repo', async () => {
    expect(rerankerCatalogEntry('bge-reranker-v2-m3')).toMatchObject({ id: 'BAAI/bge-reranker-v2-m3', arch: 'xlm-roberta', maxTokens: 8192 });
    expect(rerankerCatalogEntry('cross-encoder/MS-MARCO-MiniLM-L-6-v2')?.arch).toBe('bert');
    expect(rerankerCatalogEntry('bge-small-en-v1.5')).toBeUndefined();
    const shorts = rerankerCatalog.map((e) => e.id.split('/')[1]!.toLowerCase());
    expect(new Set(shorts).size).toBe(shorts.length);
    const { loadReranker } = await import('../src/engine/reranker.js');
    const before = hub.requests.length;
    const r = await loadReranker('bge-reranker-v2-m3', { ...opts(), threads: 1 });
    const local = await loadReranker(xlmrReranker.hfDir, { threads: 1 });
    try {
      expect(r.info.format).toBe('hf');
      expect(hub.requests.slice(before).some((q) => q.path.includes('BAAI/bge-reranker-v2-m3') && q.path.endsWith('/tokenizer.json'))).toBe(true);
      expect(hub.requests.slice(before).some((q) => q.path.endsWith('pytorch_model.bin'))).toBe(false);
      const docs = ['the licence applies to copies', 'le café'];
      expect(await r.rerank('which licence applies', docs)).toEqual(await local.rerank('which licence applies', docs));
    } finally {
      await r.close();
      await local.close();
    }
  });
});

describe('tokens', () => {
  it('come from HF_TOKEN, then HUGGING_FACE_HUB_TOKEN, then the login file', () => {
    const home = path.join(tmp, 'hfhome');
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(path.join(home, 'token'), 'hf_fromFile\n');
    expect(resolveToken(undefined, { HF_HOME: home })).toMatchObject({ token: 'hf_fromFile', source: 'token file' });
    expect(resolveToken(undefined, { HF_HOME: home, HUGGING_FACE_HUB_TOKEN: 'hf_old' })).toMatchObject({ token: 'hf_old' });
    expect(resolveToken(undefined, { HF_HOME: home, HUGGING_FACE_HUB_TOKEN: 'hf_old', HF_TOKEN: 'hf_new' })).toMatchObject({ token: 'hf_new' });
    expect(resolveToken('hf_explicit', { HF_TOKEN: 'hf_new' })).toMatchObject({ token: 'hf_explicit', source: 'option' });
    fs.writeFileSync(path.join(tmp, 'elsewhere'), 'hf_pathToken');
    expect(resolveToken(undefined, { HF_HOME: home, HF_TOKEN_PATH: path.join(tmp, 'elsewhere') })).toMatchObject({ token: 'hf_pathToken' });
    expect(resolveToken(undefined, { HF_HOME: path.join(tmp, 'none'), HF_TOKEN: '' })).toMatchObject({ token: undefined, source: 'none' });
  });
});

describe('resolveModel: downloads', () => {
  it('fetches a GGUF from a repo into the cache as huggingface_hub lays it out, and it gives the same logits', async () => {
    const r = await resolveModel('test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', opts());
    const dir = repoDir('test-org/tiny-gemma-GGUF');
    const blob = path.join(dir, 'blobs', sha256(gguf));
    expect(r).toEqual({
      ref: 'test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', format: 'gguf', repo: 'test-org/tiny-gemma-GGUF', revision: 'main', commit: C1,
      path: path.join(dir, 'snapshots', C1, 'tiny-q8_0.gguf'),
    });
    expect(fs.readlinkSync(r.path)).toBe(`../../blobs/${sha256(gguf)}`);
    expect(fs.readFileSync(path.join(dir, 'refs', 'main'), 'utf8')).toBe(C1);
    expect(fs.readdirSync(path.join(dir, 'blobs'))).toEqual([sha256(gguf)]);
    expect(fs.readFileSync(blob).equals(gguf)).toBe(true);
    // only that file; the token went to the hub, never to the CDN
    expect(hub.requestsFor('tiny-f32.gguf')).toEqual([]);
    expect(hub.requestsFor('README.md')).toEqual([]);
    const cdn = hub.requests.filter((q) => q.server === 'cdn');
    expect(cdn).toHaveLength(1);
    expect(cdn[0]!.authorization).toBe(false);
    expect(hub.requests.filter((q) => q.server === 'hub').every((q) => q.authorization)).toBe(true);

    expect(await logits(r.path)).toEqual(await logits(tinyModel('gemma3', 'q8_0')));

    // a file in a folder of the repo: a deeper link to the same blob, no second download
    hub.requests.length = 0;
    const sub = await resolveModel('test-org/tiny-gemma-GGUF:sub/dir/tiny.gguf', opts());
    expect(sub.path).toBe(path.join(dir, 'snapshots', C1, 'sub', 'dir', 'tiny.gguf'));
    expect(fs.readlinkSync(sub.path)).toBe(`../../../../blobs/${sha256(gguf)}`);
    expect(hub.requests.filter((q) => q.server === 'cdn')).toEqual([]);
    expect(hub.requests.map((q) => q.method + ' ' + q.path.split('?')[0])).toEqual([
      'GET /api/models/test-org/tiny-gemma-GGUF/revision/main', `HEAD /test-org/tiny-gemma-GGUF/resolve/${C1}/sub/dir/tiny.gguf`,
    ]);

    // a second call finds the snapshot and fetches nothing but the model info
    hub.requests.length = 0;
    expect((await resolveModel('test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', opts())).path).toBe(r.path);
    expect(hub.requests.map((q) => q.path.split('?')[0])).toEqual(['/api/models/test-org/tiny-gemma-GGUF/revision/main']);
  });

  it('fetches only the files an HF model needs, regular files named by git blob id, LFS by sha256', async () => {
    const r = await resolveModel('test-org/tiny-gemma-it', opts());
    const dir = repoDir('test-org/tiny-gemma-it');
    expect(r).toMatchObject({ format: 'hf', commit: C2, path: path.join(dir, 'snapshots', C2) });
    const files = hfFiles(weights);
    const wanted = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
    expect(fs.readdirSync(r.path).sort()).toEqual(wanted);
    for (const f of wanted) {
      const blobName = files[f]!.lfs ? sha256(files[f]!.content) : gitOid(files[f]!.content);
      expect(fs.readlinkSync(path.join(r.path, f))).toBe(`../../blobs/${blobName}`);
      expect(fs.readFileSync(path.join(r.path, f)).equals(files[f]!.content)).toBe(true);
    }
    for (const f of ['gemma-tiny.gguf', 'pytorch_model.bin', 'README.md', '.gitattributes']) expect(hub.requestsFor(f), f).toEqual([]);
    expect(hub.requests.some((q) => q.path.includes(sha256(bigGguf)))).toBe(false);
    // the model info was asked with blobs=true, the files by commit hash
    expect(hub.requests[0]!.path).toBe('/api/models/test-org/tiny-gemma-it/revision/main?blobs=true');
    expect(hub.requests.filter((q) => q.path.includes('/resolve/')).every((q) => q.path.includes(`/resolve/${C2}/`))).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'refs', 'main'), 'utf8')).toBe(C2);
  });

  it('downloads a generated HF model, single and sharded, that loads with the logits of the original directory', async () => {
    for (const sharded of [false, true]) {
      const src = hfModel('gemma3', 'bf16', sharded);
      const r = await resolveModel(`test-org/tiny-gemma3-hf${sharded ? '-sharded' : ''}`, opts());
      expect(fs.readdirSync(r.path).sort()).toEqual([...fs.readdirSync(src), 'tokenizer.json', 'tokenizer_config.json'].sort());
      expect(await logits(r.path)).toEqual(await logits(src));
    }
    const twinSha = sha256(fs.readFileSync(hfTwin('gemma3', 'bf16')));
    expect(hub.requests.some((q) => q.path.includes('tiny-gemma3-bf16.gguf') || q.path.includes(twinSha))).toBe(false);
  });

  it('resolves tags and commit hashes; a tag gets its refs/ file, a commit none', async () => {
    const v1 = await resolveModel('test-org/tiny-gemma-it@v1.0', opts());
    expect(v1).toMatchObject({ revision: 'v1.0', commit: C1 });
    expect(fs.readFileSync(path.join(v1.path, 'model.safetensors')).equals(weightsV1.content)).toBe(true);
    expect(fs.readFileSync(path.join(repoDir('test-org/tiny-gemma-it'), 'refs', 'v1.0'), 'utf8')).toBe(C1);
    const byCommit = await resolveModel(`test-org/tiny-gemma-it@${C2}`, opts());
    expect(byCommit).toMatchObject({ revision: C2, commit: C2 });
    expect(fs.readdirSync(path.join(repoDir('test-org/tiny-gemma-it'), 'refs'))).toEqual(['v1.0']);
    // config.json is the same file in both commits: one blob, two links
    const blobs = fs.readdirSync(path.join(repoDir('test-org/tiny-gemma-it'), 'blobs'));
    expect(blobs.filter((b) => b === gitOid(config.content))).toHaveLength(1);
  });

  it('fetches the shards a safetensors index names, and refuses an index that climbs out of the repo', async () => {
    const r = await resolveModel('test-org/tiny-sharded', opts());
    expect(fs.readdirSync(r.path).sort()).toEqual([
      'config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json',
      'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json',
    ]);
    expect(fs.readFileSync(path.join(r.path, 'model-00002-of-00002.safetensors')).equals(shard2.content)).toBe(true);
    expect(hub.requestsFor('consolidated.00.pth')).toEqual([]);
    const e = await rejects(resolveModel('test-org/evil-index', opts()));
    expect(e.code).toBe('ERR_HUB_BAD_INDEX');
    expect(e.message).toMatch(/dot segment/);
  });

  it('two concurrent resolutions download a blob once (a lock file, as huggingface_hub has)', async () => {
    const ref = 'test-org/tiny-gemma-GGUF:tiny-q8_0.gguf';
    const [a, b] = await Promise.all([resolveModel(ref, opts()), resolveModel(ref, opts())]);
    expect(a.path).toBe(b.path);
    expect(fs.readFileSync(a.path).equals(gguf)).toBe(true);
    expect(hub.requests.filter((q) => q.server === 'cdn')).toHaveLength(1);
    // the lock is gone afterwards; a lock abandoned long ago is taken over
    const lock = path.join(cacheDir, '.locks', 'models--test-org--tiny-gemma-GGUF', `${sha256(bigGguf)}.potron.lock`);
    expect(fs.readdirSync(path.dirname(lock))).toEqual([]);
    fs.writeFileSync(lock, '12345@elsewhere\n');
    fs.utimesSync(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    await resolveModel('test-org/tiny-gemma-GGUF:tiny-f32.gguf', opts());
    expect(warnings.join('\n')).toContain(`taking over the abandoned lock ${lock}`);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('resumes a download cut mid-file with a Range request', async () => {
    const sha = sha256(gguf);
    hub.drops.set(sha, { afterBytes: 40_000, times: 1 });
    const ref = 'test-org/tiny-gemma-GGUF:tiny-q8_0.gguf';
    const dir = repoDir('test-org/tiny-gemma-GGUF');
    // no retries: the call fails, the part stays as .incomplete, nothing is in snapshots
    const e = await rejects(resolveModel(ref, opts({ retries: 0 })));
    expect(e.code).toBe('ERR_HUB_NETWORK');
    expect(e.message).toMatch(/interrupted.*run the same command again to resume/);
    const partial = path.join(dir, 'blobs', `${sha}.incomplete`);
    expect(fs.statSync(partial).size).toBe(40_000);
    expect(fs.existsSync(path.join(dir, 'snapshots', C1, 'tiny-q8_0.gguf'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'blobs', sha))).toBe(false);
    // the next call asks for the rest only and completes
    hub.requests.length = 0;
    const r = await resolveModel(ref, opts({ retries: 0 }));
    const cdn = hub.requests.filter((q) => q.server === 'cdn');
    expect(cdn.map((q) => q.range)).toEqual(['bytes=40000-']);
    expect(fs.readFileSync(r.path).equals(gguf)).toBe(true);
    expect(fs.existsSync(partial)).toBe(false);
  });

  it('resumes within one call when the connection drops, and says so', async () => {
    hub.drops.set(sha256(weights.content), { afterBytes: 100_000, times: 2 });
    const r = await resolveModel('test-org/tiny-gemma-it', opts());
    expect(fs.readFileSync(path.join(r.path, 'model.safetensors')).equals(weights.content)).toBe(true);
    const cdn = hub.requests.filter((q) => q.server === 'cdn');
    expect(cdn.map((q) => q.range)).toEqual([undefined, 'bytes=100000-', 'bytes=200000-']);
    expect(warnings.join('\n')).toMatch(/model\.safetensors: the connection dropped .*resuming/);
  });

  it('rejects a file whose sha256 does not match and keeps it out of the cache', async () => {
    hub.corrupt.add(sha256(gguf));
    const e = await rejects(resolveModel('test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', opts()));
    expect(e.code).toBe('ERR_HUB_CHECKSUM');
    expect(e.message).toContain(`the hub says ${sha256(gguf)}`);
    const dir = repoDir('test-org/tiny-gemma-GGUF');
    expect(fs.existsSync(path.join(dir, 'snapshots', C1, 'tiny-q8_0.gguf'))).toBe(false);
    expect(fs.readdirSync(path.join(dir, 'blobs'))).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'refs', 'main'))).toBe(false);
  });

  it('checks regular files against their git blob id', async () => {
    hub.corrupt.add(gitOid(config.content));
    const e = await rejects(resolveModel('test-org/tiny-sharded', opts()));
    expect(e.code).toBe('ERR_HUB_CHECKSUM');
    expect(e.message).toContain(`config.json of test-org/tiny-sharded is corrupt: its git blob id is`);
    expect(e.message).toContain(`the hub says ${gitOid(config.content)}`);
    expect(fs.existsSync(path.join(repoDir('test-org/tiny-sharded'), 'snapshots', C3, 'config.json'))).toBe(false);
  });

  it('verify re-hashes cached files and replaces a corrupted blob', async () => {
    const r = await resolveModel('test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', opts());
    const blob = fs.realpathSync(r.path);
    const bytes = fs.readFileSync(blob);
    bytes[1000] ^= 1;
    fs.writeFileSync(blob, bytes);
    await resolveModel('test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', opts());
    expect(fs.readFileSync(r.path).equals(gguf)).toBe(false); // without verify the cache is trusted
    await resolveModel('test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', opts({ verify: true }));
    expect(fs.readFileSync(r.path).equals(gguf)).toBe(true);
    expect(warnings.join('\n')).toMatch(/does not match the hub's checksum/);
  });
});

/** A cache as huggingface_hub writes it, made by hand: blobs, relative symlinks, refs. */
function prefillCache(id: string, commit: string, files: Record<string, Buffer | { lfs: Buffer }>, refs: Record<string, string>): string {
  const dir = repoDir(id);
  fs.mkdirSync(path.join(dir, 'blobs'), { recursive: true });
  for (const [name, f] of Object.entries(files)) {
    const content = Buffer.isBuffer(f) ? f : f.lfs;
    const blob = Buffer.isBuffer(f) ? gitOid(f) : sha256(f.lfs);
    fs.writeFileSync(path.join(dir, 'blobs', blob), content);
    const link = path.join(dir, 'snapshots', commit, name);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.relative(path.dirname(link), path.join(dir, 'blobs', blob)), link);
  }
  for (const [ref, c] of Object.entries(refs)) {
    fs.mkdirSync(path.dirname(path.join(dir, 'refs', ref)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'refs', ref), c);
  }
  return dir;
}

describe('resolveModel: offline and the cache', () => {
  let dead = ''; // a port nothing listens on
  beforeAll(async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    dead = `http://127.0.0.1:${(s.address() as net.AddressInfo).port}`;
    await new Promise((r) => s.close(r));
  });

  it('uses a cache filled by the Python tools without any request, resolving refs/main', async () => {
    const dir = prefillCache('google/gemma-3-1b-it', C2, {
      'config.json': config.content, 'tokenizer.json': tokenizer.content, 'tokenizer_config.json': tokenizerConfig.content,
      'model.safetensors': { lfs: weights.content },
    }, { main: C2 });
    const before = hub.requests.length;
    const r = await resolveModel('google/gemma-3-1b-it', opts({ offline: true, endpoint: dead }));
    expect(r).toEqual({ ref: 'google/gemma-3-1b-it', format: 'hf', path: path.join(dir, 'snapshots', C2), repo: 'google/gemma-3-1b-it', revision: 'main', commit: C2 });
    expect(hub.requests.length).toBe(before);
    // HF_HUB_OFFLINE=1 does the same
    process.env.HF_HUB_OFFLINE = '1';
    try {
      expect((await resolveModel('google/gemma-3-1b-it', opts({ endpoint: dead }))).commit).toBe(C2);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    // a GGUF in a repo, by commit hash
    prefillCache('org/gguf', C3, { 'm.gguf': { lfs: gguf } }, {});
    const g = await resolveModel(`org/gguf:m.gguf@${C3}`, opts({ offline: true, endpoint: dead }));
    expect(fs.readFileSync(g.path).equals(gguf)).toBe(true);
  });

  it('offline, a revision that is not cached is an error that lists what is', async () => {
    prefillCache('google/gemma-3-1b-it', C2, { 'config.json': config.content }, { main: C2 });
    const e = await rejects(resolveModel('google/gemma-3-1b-it@v2', opts({ offline: true })));
    expect(e.code).toBe('ERR_HUB_NOT_CACHED');
    expect(e.message).toContain(`cached revisions of google/gemma-3-1b-it: ${C2} (main)`);
    // incomplete (no weights) is not cached either
    expect((await rejects(resolveModel('google/gemma-3-1b-it', opts({ offline: true })))).code).toBe('ERR_HUB_NOT_CACHED');
  });

  it('without network, falls back to the cached revision; else says what is cached and mentions HF_HUB_OFFLINE', async () => {
    prefillCache('org/gguf', C3, { 'm.gguf': { lfs: gguf } }, { main: C3 });
    const r = await resolveModel('org/gguf:m.gguf', opts({ endpoint: dead }));
    expect(r.commit).toBe(C3);
    expect(warnings.join('\n')).toContain(`cannot reach ${dead.slice(7)} (ECONNREFUSED); using the cached org/gguf at ${C3}`);
    const e = await rejects(resolveModel('org/gguf:m.gguf@dev', opts({ endpoint: dead })));
    expect(e.code).toBe('ERR_HUB_NETWORK');
    expect(e.message).toContain(`cached revisions of org/gguf: ${C3} (main)`);
    expect(e.message).toContain('HF_HUB_OFFLINE=1');
    expect(e.message).not.toContain(GOOD);
  });

  it('lists cached models with their revisions and sizes', async () => {
    await resolveModel('test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', opts());
    const list = listCachedModels(cacheDir);
    expect(list).toEqual([{
      repo: 'test-org/tiny-gemma-GGUF', path: repoDir('test-org/tiny-gemma-GGUF'), size: gguf.length,
      revisions: [{ commit: C1, refs: ['main'], files: ['tiny-q8_0.gguf'], size: gguf.length }],
    }]);
    expect(listCachedModels(path.join(tmp, 'nothing'))).toEqual([]);
  });
});

describe('resolveModel: errors', () => {
  it('401 without a token on a gated repo: says to set HF_TOKEN or log in', async () => {
    const e = await rejects(resolveModel('test-org/tiny-gemma-it', opts({ token: undefined })));
    expect(e.code).toBe('ERR_HUB_UNAUTHORIZED');
    expect(e.message).toMatch(/needs an HF token.*gated.*HF_TOKEN.*huggingface-cli login/);
  });

  it('401 for a bad token: says it was rejected, never repeats it (the server echoes it)', async () => {
    const e = await rejects(resolveModel('test-org/tiny-gemma-it', opts({ token: BAD })));
    expect(e.code).toBe('ERR_HUB_UNAUTHORIZED');
    expect(e.message).toMatch(/rejected as invalid or expired/);
    expect(e.message).toContain('hf_***');
    expect(e.message).not.toContain(BAD);
    expect(JSON.stringify(e)).not.toContain(BAD);
    expect(String(e.stack)).not.toContain(BAD);
  });

  it('403 gated: says where to accept the licence, without the token', async () => {
    const e = await rejects(resolveModel('test-org/tiny-gemma-it', opts({ token: NOACCESS })));
    expect(e.code).toBe('ERR_HUB_GATED');
    expect(e.message).toContain(`accept the licence at ${hub.url}/test-org/tiny-gemma-it`);
    expect(e.message).not.toContain(NOACCESS);
    // the body did quote it: the message was cleaned, not silent
    expect(e.message).toMatch(/not in the authorized list \(token hf_\*\*\*\)/);
  });

  it('404: unknown model, revision, file; a private repo reads as not found without access', async () => {
    const repo = await rejects(resolveModel('test-org/no-such-model', opts()));
    expect(repo.code).toBe('ERR_HUB_REPO_NOT_FOUND');
    expect(repo.message).toContain('model test-org/no-such-model was not found');
    const rev = await rejects(resolveModel('test-org/tiny-gemma-it@v9', opts()));
    expect(rev.code).toBe('ERR_HUB_REVISION_NOT_FOUND');
    expect(rev.message).toContain(`revision 'v9' was not found in test-org/tiny-gemma-it`);
    const file = await rejects(resolveModel('test-org/tiny-gemma-GGUF:tiny-q4.gguf', opts()));
    expect(file.code).toBe('ERR_HUB_FILE_NOT_FOUND');
    expect(file.message).toContain('its GGUF files are: tiny-q8_0.gguf, tiny-f32.gguf, sub/dir/tiny.gguf');
    const priv = await rejects(resolveModel('test-org/private-model:tiny.gguf', opts({ token: undefined })));
    expect(priv.code).toBe('ERR_HUB_REPO_NOT_FOUND');
    expect(priv.message).toMatch(/if it is private, set HF_TOKEN/);
    expect((await resolveModel('test-org/private-model:tiny.gguf', opts())).commit).toBe(C4);
    const notModel = await rejects(resolveModel('test-org/tiny-gemma-GGUF', opts()));
    expect(notModel.code).toBe('ERR_HUB_NOT_A_MODEL');
    expect(notModel.message).toContain('use test-org/tiny-gemma-GGUF:tiny-q8_0.gguf');
  });

  it('disk full: says where and how much was needed, keeps nothing in snapshots', async () => {
    // /dev/full answers every write with ENOSPC: put it where the partial blob goes
    const blobs = path.join(repoDir('test-org/tiny-gemma-GGUF'), 'blobs');
    fs.mkdirSync(blobs, { recursive: true });
    fs.symlinkSync('/dev/full', path.join(blobs, `${sha256(gguf)}.incomplete`));
    const e = await rejects(resolveModel('test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', opts()));
    expect(e.code).toBe('ERR_HUB_DISK_FULL');
    expect(e.message).toContain(`not enough disk space for tiny-q8_0.gguf of test-org/tiny-gemma-GGUF in ${blobs}`);
    expect(e.message).toMatch(/it needs 276\.\d KiB more/);
    expect(e.message).toMatch(/HF_HUB_CACHE/);
    expect(fs.existsSync(path.join(repoDir('test-org/tiny-gemma-GGUF'), 'snapshots', C1, 'tiny-q8_0.gguf'))).toBe(false);
  });

  it('a 5xx from the hub falls back to the cache like a network failure', async () => {
    prefillCache('test-org/tiny-gemma-GGUF', C1, { 'tiny-q8_0.gguf': { lfs: gguf } }, { main: C1 });
    const down = http.createServer((_req, res) => {
      res.statusCode = 503;
      res.end('maintenance');
    });
    await new Promise<void>((r) => down.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(down.address() as net.AddressInfo).port}`;
      expect((await resolveModel('test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', opts({ endpoint: url }))).commit).toBe(C1);
      expect(warnings.join('\n')).toMatch(/answered HTTP 503/);
      const e = await rejects(resolveModel('test-org/tiny-gemma-it', opts({ endpoint: url })));
      expect(e.code).toBe('ERR_HUB_HTTP');
      expect(e.message).toMatch(/answered HTTP 503 for test-org\/tiny-gemma-it: try again later \(hub said: maintenance\)/);
    } finally {
      await new Promise((r) => down.close(r));
    }
  });

  it('an aborted signal stops the download', async () => {
    const ac = new AbortController();
    ac.abort();
    const e = await rejects(resolveModel('test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', opts({ signal: ac.signal })));
    expect(e.code).toBe('ERR_ABORTED');
  });
});

describe('progress', () => {
  it('draws a bar on a terminal and plain lines otherwise', async () => {
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stderr.write;
    const lines: string[] = [];
    try {
      await resolveModel('test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', opts({ progress: 'tty' }));
      await resolveModel('test-org/tiny-gemma-GGUF:tiny-f32.gguf', opts({ progress: 'lines', logger: { info: (m) => lines.push(m), warn: (m) => lines.push(m) } }));
    } finally {
      process.stderr.write = orig;
    }
    expect(writes[0]).toMatch(/^\r\x1b\[Ktiny-q8_0\.gguf \[\.{24}\] 0% 0 B \/ 276\.\d KiB/);
    expect(writes.at(-1)).toMatch(/^\r\x1b\[Ktiny-q8_0\.gguf \[#{24}\] 100% 276\.\d KiB \/ 276\.\d KiB .*\/s\n$/);
    expect(writes.join('')).not.toContain('tiny-f32');
    expect(lines[0]).toMatch(/^downloading tiny-f32\.gguf \(981\.\d KiB\)$/);
    expect(lines.at(-1)).toMatch(/^tiny-f32\.gguf: done, 981\.\d KiB in \d+\.\d s$/);
  });
});

describe('CLI: pull and models', () => {
  const run = promisify(execFile);
  const bin = path.join(root, 'bin', 'predict-otron.js');
  async function cli(args: string[], env: Record<string, string | undefined> = {}) {
    try {
      const { stdout, stderr } = await run('node', [bin, ...args], {
        env: { ...process.env, HF_HUB_CACHE: cacheDir, HF_ENDPOINT: hub.url, HF_TOKEN: GOOD, HF_HUB_OFFLINE: '', ...env },
        maxBuffer: 1 << 26,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('pull downloads, verifies and prints the path; logits then takes the same reference offline', async () => {
    const res = await cli(['pull', 'test-org/tiny-gemma-GGUF:tiny-q8_0.gguf']);
    expect(res.code).toBe(0);
    const p = path.join(repoDir('test-org/tiny-gemma-GGUF'), 'snapshots', C1, 'tiny-q8_0.gguf');
    expect(res.stdout).toBe(p + '\n');
    expect(res.stderr).toMatch(/downloading tiny-q8_0\.gguf \(276\.\d KiB\)/);
    expect(res.stderr).toMatch(/tiny-q8_0\.gguf: done/);
    expect(fs.readFileSync(p).equals(gguf)).toBe(true);

    const tokens = [2, 17, 40, 41];
    const viaRef = await cli(['logits', '--model', 'test-org/tiny-gemma-GGUF:tiny-q8_0.gguf', '--tokens', tokens.join(','), '--threads', '1'],
      { HF_HUB_OFFLINE: '1' });
    expect(viaRef.stderr).toBe('');
    const direct = await cli(['logits', '--model', tinyModel('gemma3', 'q8_0'), '--tokens', tokens.join(','), '--threads', '1']);
    expect(JSON.parse(viaRef.stdout)).toEqual(JSON.parse(direct.stdout));

    const models = await cli(['models', '--json']);
    expect(JSON.parse(models.stdout)).toMatchObject([{ repo: 'test-org/tiny-gemma-GGUF', revisions: [{ commit: C1, refs: ['main'] }] }]);
    const table = await cli(['models']);
    expect(table.stdout).toMatch(/test-org\/tiny-gemma-GGUF\s+main\s+1111111\s+276\.\d KiB/);
  });

  it('pull exits 1 with the error for a gated repo without access, and --json prints the resolved model', async () => {
    const denied = await cli(['pull', 'test-org/tiny-gemma-it'], { HF_TOKEN: NOACCESS });
    expect(denied.code).toBe(1);
    expect(denied.stdout).toBe('');
    expect(denied.stderr).toMatch(/predict-otron pull: access to test-org\/tiny-gemma-it is restricted/);
    expect(denied.stderr).not.toContain(NOACCESS);
    const ok = await cli(['pull', 'test-org/tiny-gemma-it@v1.0', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ format: 'hf', repo: 'test-org/tiny-gemma-it', revision: 'v1.0', commit: C1 });
    const usage = await cli(['pull']);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toMatch(/predict-otron pull <model>/);
  });

  it('models --catalog prints the Gemma catalog as a table or JSON', async () => {
    const j = await cli(['models', '--catalog', '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual(JSON.parse(JSON.stringify(catalog)));
    const t = await cli(['models', '--catalog']);
    expect(t.stdout.split('\n')[0]).toMatch(/^id\s+family\s+size\s+tuned\s+gated\s+context/);
    expect(t.stdout).toMatch(/google\/gemma-3-1b-it\s+gemma3\s+1b\s+it\s+yes\s+32768/);
    expect(t.stdout.trim().split('\n')).toHaveLength(catalog.length + 1);
  });

  it('models --catalog --rerankers prints the rerankers; --rerankers alone is a usage error', async () => {
    const j = await cli(['models', '--catalog', '--rerankers', '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual(JSON.parse(JSON.stringify(rerankerCatalog)));
    const t = await cli(['models', '--catalog', '--rerankers']);
    expect(t.stdout).toMatch(/BAAI\/bge-reranker-v2-m3\s+bge-reranker-v2-m3\s+xlm-roberta\s+8192\s+multilingual\s+no/);
    expect(t.stdout.trim().split('\n')).toHaveLength(rerankerCatalog.length + 1);
    const bad = await cli(['models', '--rerankers']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/go with --catalog/);
  });

  it('models --catalog --embeddings prints the embedding models with their dimensions', async () => {
    const j = await cli(['models', '--catalog', '--embeddings', '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual(JSON.parse(JSON.stringify(embeddingCatalog)));
    const t = await cli(['models', '--catalog', '--embeddings']);
    expect(t.stdout.split('\n')[0]).toMatch(/^id\s+short name\s+arch\s+dimensions\s+matryoshka\s+max tokens/);
    expect(t.stdout).toMatch(/nomic-ai\/nomic-embed-text-v1\.5\s+nomic-embed-text-v1\.5\s+nomic-bert\s+768\s+64\+\s+2048\s+query\/document\s+no/);
    expect(t.stdout.trim().split('\n')).toHaveLength(embeddingCatalog.length + 1);
  });
});

describe('a cache shared by several processes', () => {
  it('a stale lock is taken over by exactly one of many waiters', async () => {
    const { withLock, STALE_MS } = await import('../src/hub/lock.js');
    const file = path.join(cacheDir, '.locks', 'models--x--y', 'abc.potron.lock');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '1@dead-host\n');
    const old = new Date(Date.now() - STALE_MS - 5000);
    fs.utimesSync(file, old, old);
    let inside = 0;
    let most = 0;
    let ran = 0;
    await Promise.all(Array.from({ length: 8 }, () => withLock(file, 'x', quiet, undefined, async () => {
      inside++;
      most = Math.max(most, inside);
      await new Promise((r) => setTimeout(r, 15));
      inside--;
      ran++;
    })));
    expect(ran).toBe(8);
    expect(most).toBe(1);
    expect(warnings.filter((w) => w.includes('taking over'))).toHaveLength(1);
    expect(fs.readdirSync(path.dirname(file))).toEqual([]); // neither the lock nor the takeover guard is left
  });

  it('two processes pulling the same model into one cache at once both get it, and leave nothing behind', async () => {
    const run = promisify(execFile);
    const bin = path.join(root, 'bin', 'predict-otron.js');
    const env = { ...process.env, HF_HUB_CACHE: cacheDir, HF_ENDPOINT: hub.url, HF_TOKEN: GOOD, HF_HUB_OFFLINE: '' };
    const pulls = await Promise.all([0, 1].map(() => run('node', [bin, 'pull', 'test-org/tiny-gemma-GGUF:tiny-q8_0.gguf'], { env, maxBuffer: 1 << 26 })));
    expect(pulls[0]!.stdout).toBe(pulls[1]!.stdout);
    const file = pulls[0]!.stdout.trim();
    expect(fs.readFileSync(file).equals(fs.readFileSync(tinyModel('gemma3', 'q8_0')))).toBe(true);
    const m = await Model.open(file);
    expect(m.info.format).toBe('gguf');
    await m.close();
    // no temp files, no half downloads, no locks; every snapshot link resolves to a whole blob
    const all = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? all(path.join(d, e.name)) : [path.join(d, e.name)]);
    const files = all(cacheDir);
    expect(files.filter((f) => /\.tmp$|\.incomplete$|\.lock$|\.takeover$/.test(f))).toEqual([]);
    for (const f of files.filter((x) => x.includes(`${path.sep}snapshots${path.sep}`))) expect(fs.statSync(f).size).toBeGreaterThan(0);
  });
});
