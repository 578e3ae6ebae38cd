// llama.cpp as the independent implementation, through node-llama-cpp (a devDependency, used
// here only). It yields probabilities; we compare log-probabilities, which do not depend on
// the arbitrary constant that logits may carry.
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';

let llama: Promise<Llama> | undefined;
const models = new Map<string, Promise<LlamaModel>>();

function getModel(path: string): Promise<LlamaModel> {
  llama ??= getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  let m = models.get(path);
  if (!m) {
    m = llama.then((l) => l.loadModel({ modelPath: path, gpuLayers: 0 }));
    models.set(path, m);
  }
  return m;
}

export interface OracleOptions {
  kvType: 'f16' | 'f32';
  flashAttn: boolean;
  /** cells asked for (llama.cpp pads to 256, as we do); default max(256, tokens) */
  contextSize?: number;
  /** tokens per ubatch (node-llama-cpp sets n_batch = n_ubatch); default its own (512) */
  batchSize?: number;
}

/** llama.cpp's next-token log-probabilities after every position of `tokens`. */
export async function oracleLogprobs(path: string, tokens: number[], V: number, opts: OracleOptions): Promise<Float64Array[]> {
  const model = await getModel(path);
  const kv = opts.kvType.toUpperCase() as 'F16' | 'F32';
  const ctx = await model.createContext({
    contextSize: opts.contextSize ?? Math.max(256, tokens.length),
    ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
    flashAttention: opts.flashAttn,
    experimentalKvCacheKeyType: kv,
    experimentalKvCacheValueType: kv,
    threads: 2,
    sequences: 1,
  });
  try {
    const seq = ctx.getSequence();
    const full = { temperature: 1, topK: V, topP: 1, minP: 0 };
    const res = await seq.controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true, options: full } }]));
    return res.map((r, i) => {
      const probs = r?.next.probabilities;
      if (!probs || probs.size !== V) throw new Error(`oracle returned no full distribution at position ${i}`);
      const out = new Float64Array(V);
      for (const [tok, p] of probs) out[tok] = Math.log(p);
      return out;
    });
  } finally {
    await ctx.dispose();
  }
}

/**
 * llama.cpp's pooled embedding of each input (token ids, [CLS] .. [SEP] already in place: node-llama-cpp
 * adds them only when missing), one input at a time, with the file's own pooling.
 */
export async function oracleEmbeddings(path: string, inputs: readonly number[][]): Promise<Float64Array[]> {
  const model = await getModel(path);
  // room for inputs as long as the model reads (its own default context is one token short of that)
  const longest = Math.max(...inputs.map((x) => x.length));
  const ctx = await model.createEmbeddingContext({ threads: 2, contextSize: Math.max(512, longest + 1), batchSize: Math.max(512, longest + 1) });
  try {
    const out: Float64Array[] = [];
    for (const input of inputs) out.push(Float64Array.from((await ctx.getEmbeddingFor([...input] as never)).vector));
    return out;
  } finally {
    await ctx.dispose();
  }
}

/**
 * llama.cpp's relevance probabilities (its reranking: bos q eos sep d eos, the classifier's
 * logit through a sigmoid) for [query ids, document ids] pairs given without special tokens.
 */
export async function oracleRank(path: string, pairs: ReadonlyArray<readonly [readonly number[], readonly number[]]>): Promise<number[]> {
  const model = await getModel(path);
  const ctx = await model.createRankingContext({ threads: 2 });
  try {
    const out: number[] = [];
    for (const [q, d] of pairs) out.push(await ctx.rank([...q] as never, [...d] as never));
    return out;
  } finally {
    await ctx.dispose();
  }
}

/** llama.cpp's tokens for a text as it tokenizes it, no special tokens added. */
export async function oracleTokens(path: string, text: string): Promise<number[]> {
  return [...(await getModel(path)).tokenize(text)].map(Number);
}

/**
 * llama.cpp's tokens for a text with the specials its embedding path adds ([CLS] ... [SEP] for
 * WordPiece vocabularies, as node-llama-cpp's embedding context prepares an input).
 */
export async function oracleTokenize(path: string, text: string): Promise<number[]> {
  const model = await getModel(path);
  const ids = [...model.tokenize(text)].map(Number);
  const { bos, sep } = model.tokens;
  if (String(model.vocabularyType) !== 'wpm' || bos == null || sep == null) throw new Error('oracleTokenize: only WordPiece vocabularies');
  return [Number(bos), ...ids, Number(sep)];
}

export async function disposeOracle(): Promise<void> {
  for (const m of models.values()) await (await m).dispose();
  models.clear();
  if (llama) await (await llama).dispose();
  llama = undefined;
}
