// The tokenizer of a GGUF-only model, built from its tokenizer.ggml.* metadata.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import type { GgufMetadataValue } from '../runtime/addon.js';
import { TokenizerError } from './errors.js';
import { type Encoder, type EncoderSpec, makeEncoder } from './encoders.js';
import { readGgufVocab, TokenType } from './gguf-vocab.js';
import { packVocab } from './packed-vocab.js';
import { byteOfPiece, TokenTable } from './token-table.js';
import { type SpecialSettings, TableTokenizer } from './table-tokenizer.js';
import type { Tokenizer } from './types.js';

/**
 * Texts this long (about 4,000 tokens, ~20 ms here with SentencePiece) are encoded on a worker
 * thread. WordPiece is faster, but not enough to stay: 100,000 tokens took 35-65 ms on a first
 * call and 8-17 ms warm here (2 cores, loaded), so a long text would still stall streams.
 */
const OFF_THREAD_CHARS = 16_384;
// the compiled worker (dist/), also when this module runs from src/ under the tests
const workerScript = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'), 'dist', 'tokenizer', 'encoder-worker.js');

/**
 * Runs the vocabulary's encoder on a worker thread that lives until close(). It shares the
 * packed vocabulary and keeps little else (about 10 MB), so it is cheaper to keep than to start
 * when a long prompt arrives: a start costs ~35 ms of CPU at normal priority, taken from the
 * decode of whatever is streaming then.
 */
class EncoderWorker {
  private worker: Worker | null = null;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (ids: Int32Array) => void; reject: (err: Error) => void }>();

  constructor(private readonly spec: EncoderSpec) {}

  static available(): boolean {
    return fs.existsSync(workerScript);
  }

  warm(): void {
    this.worker ??= this.start();
  }

  encode(text: string): Promise<Int32Array> {
    const w = (this.worker ??= this.start());
    const id = this.next++;
    return new Promise<Int32Array>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      w.ref(); // keeps the process alive while a caller waits on it
      w.postMessage({ id, text });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.failAll(new Error('the tokenizer was closed'));
    await w?.terminate();
  }

  private start(): Worker {
    const w = new Worker(workerScript, { workerData: this.spec });
    w.unref(); // an idle worker never keeps the process alive
    w.on('message', (m: { id: number; ids?: Int32Array; error?: string }) => {
      const p = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.ids) p?.resolve(m.ids);
      else p?.reject(new TokenizerError('ERR_TOKENIZER', `tokenizing failed: ${m.error}`));
      if (this.waiting.size === 0) w.unref();
    });
    w.on('error', (err) => this.fail(w, err));
    w.on('exit', () => this.fail(w, new Error('the tokenizer worker stopped')));
    return w;
  }

  private fail(w: Worker, err: Error): void {
    if (this.worker !== w) return; // a worker ended by close()
    this.worker = null;
    this.failAll(err);
  }

  private failAll(err: Error): void {
    for (const p of this.waiting.values()) p.reject(new TokenizerError('ERR_TOKENIZER', `tokenizing failed: ${err.message}`));
    this.waiting.clear();
  }
}

// a tokenizer dropped without close() still ends its worker
const unclosed = new FinalizationRegistry<EncoderWorker>((w) => void w.close());

/** The ids encode(text, { addSpecial: true }) puts around the text. */
interface Wrapping {
  first: number | undefined;
  last: number | undefined;
  /** what is missing when addSpecial cannot be honoured (llama.cpp aborts there), or undefined */
  missing?: string;
}

class GgufTokenizer extends TableTokenizer {
  private readonly offThread: EncoderWorker | null;
  private readonly encoder: Encoder;

  constructor(
    spec: EncoderSpec,
    private readonly wrapping: Wrapping,
    table: TokenTable,
    settings: SpecialSettings,
    startWorker: boolean,
  ) {
    super(table, settings);
    this.encoder = makeEncoder(spec);
    this.offThread = EncoderWorker.available() ? new EncoderWorker(spec) : null;
    if (this.offThread) {
      unclosed.register(this, this.offThread, this);
      if (startWorker) this.offThread.warm();
    }
  }

  override async close(): Promise<void> {
    if (!this.offThread) return;
    unclosed.unregister(this);
    await this.offThread.close();
  }

  protected async encodeText(text: string, addSpecial: boolean): Promise<number[]> {
    const { first, last, missing } = this.wrapping;
    if (addSpecial && missing) throw new TokenizerError('ERR_BAD_MODEL_FILE', `encode() with addSpecial needs ${missing}, which this GGUF's vocabulary lacks`);
    const out: number[] = [];
    if (addSpecial && first !== undefined) out.push(first);
    if (this.offThread && text.length >= OFF_THREAD_CHARS) {
      for (const id of await this.offThread.encode(text)) out.push(id);
    } else {
      this.encoder.encode(text, out);
    }
    if (addSpecial && last !== undefined) out.push(last);
    return out;
  }

  tokenId(text: string): number | undefined {
    return this.encoder.tokenId(text);
  }
}

/**
 * Builds the tokenizer a GGUF file carries: SentencePiece "llama" vocabularies (Gemma's),
 * WordPiece "bert" ones (BERT-family embedding models) and Unigram "t5" ones (XLM-RoBERTa
 * rerankers), each encoded as llama.cpp encodes it.
 * Long texts are encoded on a worker thread, started on first use or at once with
 * `startWorker` (a server does not want to pay for it while streams run); close() ends it.
 */
export async function tokenizerFromGguf(metadata: Record<string, GgufMetadataValue>, options: { startWorker?: boolean } = {}): Promise<Tokenizer> {
  const vocab = readGgufVocab(metadata);
  const { tokens, types } = vocab;
  const special = new Uint8Array(tokens.length);
  const pieces: Array<string | number> = new Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const t = types[i];
    const text = tokens[i]!;
    if (t === TokenType.CONTROL || t === TokenType.UNKNOWN) {
      special[i] = 1;
      pieces[i] = text;
    } else if (t === TokenType.BYTE) {
      pieces[i] = byteOfPiece(text) ?? text;
    } else if (t === TokenType.USER_DEFINED) {
      pieces[i] = text; // the converter already wrote '▁' as ' ' in user-defined tokens
    } else {
      pieces[i] = text.replaceAll('▁', ' ');
    }
  }
  const packed = packVocab(vocab);
  const table = new TokenTable(pieces, special);
  const startWorker = options.startWorker ?? false;
  if (vocab.model === 'bert') {
    const { bosId, sepId } = vocab;
    const missing = [bosId === undefined && 'a bos ([CLS]) token', sepId === undefined && 'a separator ([SEP]) token'].filter(Boolean).join(' and ');
    const spec: EncoderSpec = { kind: 'wpm', vocab: packed, options: { lowercase: vocab.lowercase!, stripAccents: vocab.stripAccents! } };
    // a BERT pair as llama.cpp's reranking input and transformers read it: [CLS] A [SEP] B [SEP], B of type 1
    const pairTemplate = bosId !== undefined && sepId !== undefined
      ? { before: [[bosId, 0] as const], between: [[sepId, 0] as const], after: [[sepId, 1] as const], firstType: 0, secondType: 1 }
      : undefined;
    return new GgufTokenizer(spec, { first: bosId, last: sepId, missing: missing || undefined }, table, { ...vocab, pairTemplate }, startWorker);
  }
  const wrapping = { first: vocab.addBos ? vocab.bosId : undefined, last: vocab.addEos ? vocab.eosId : undefined };
  if (vocab.model === 't5') {
    // a pair as llama.cpp's reranking joins it: bos? A eos? sep? B eos? (XLM-R: <s> A </s> </s> B </s>)
    const { bosId, eosId, sepId } = vocab;
    const one = (on: boolean, id: number | undefined) => (on && id !== undefined ? [[id, 0] as const] : []);
    const between = [...one(vocab.addEos, eosId), ...one(vocab.addSep!, sepId)];
    const pairTemplate = between.length > 0
      ? { before: one(vocab.addBos, bosId), between, after: one(vocab.addEos, eosId), firstType: 0, secondType: 0 }
      : undefined;
    const spec: EncoderSpec = { kind: 'ugm', vocab: packed, options: { charsmap: vocab.charsmap!, removeExtraWhitespaces: vocab.removeExtraWhitespaces! } };
    return new GgufTokenizer(spec, wrapping, table, { ...vocab, pairTemplate }, startWorker);
  }
  return new GgufTokenizer({ kind: 'spm', vocab: packed }, wrapping, table, vocab, startWorker);
}
