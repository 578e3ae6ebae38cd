// The tokenizer of a GGUF-only model, built from its tokenizer.ggml.* metadata.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import type { GgufMetadataValue } from '../runtime/addon.js';
import { TokenizerError } from './errors.js';
import { readGgufVocab, TokenType } from './gguf-vocab.js';
import { type PackedVocab, packVocab } from './packed-vocab.js';
import { SpmEncoder } from './spm.js';
import { byteOfPiece, TokenTable } from './token-table.js';
import { type SpecialSettings, TableTokenizer } from './table-tokenizer.js';
import type { Tokenizer } from './types.js';

/** Texts this long (about 4,000 tokens, ~20 ms here) are encoded on a worker thread. */
const OFF_THREAD_CHARS = 16_384;
// the compiled worker (dist/), also when this module runs from src/ under the tests
const workerScript = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'), 'dist', 'tokenizer', 'spm-worker.js');

/**
 * Runs SpmEncoder.encode on a worker thread that lives until close(). It shares the packed
 * vocabulary and keeps little else (about 10 MB), so it is cheaper to keep than to start when
 * a long prompt arrives: a start costs ~35 ms of CPU at normal priority, taken from the
 * decode of whatever is streaming then.
 */
class SpmWorker {
  private worker: Worker | null = null;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (ids: Int32Array) => void; reject: (err: Error) => void }>();

  constructor(private readonly vocab: PackedVocab) {}

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
    const w = new Worker(workerScript, { workerData: this.vocab });
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
const unclosed = new FinalizationRegistry<SpmWorker>((w) => void w.close());

class GgufTokenizer extends TableTokenizer {
  private readonly offThread: SpmWorker | null;

  constructor(
    private readonly spm: SpmEncoder,
    table: TokenTable,
    settings: SpecialSettings,
    vocab: PackedVocab,
    startWorker: boolean,
  ) {
    super(table, settings);
    this.offThread = SpmWorker.available() ? new SpmWorker(vocab) : null;
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
    const out: number[] = [];
    if (addSpecial && this.addBos) out.push(this.bosId!);
    if (this.offThread && text.length >= OFF_THREAD_CHARS) {
      for (const id of await this.offThread.encode(text)) out.push(id);
    } else {
      this.spm.encode(text, out);
    }
    if (addSpecial && this.addEos) out.push(this.eosId!);
    return out;
  }

  tokenId(text: string): number | undefined {
    return this.spm.tokenId(text);
  }
}

/**
 * Builds the tokenizer a GGUF file carries (SentencePiece "llama" vocabularies, as Gemma's).
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
  return new GgufTokenizer(new SpmEncoder(packed), new TokenTable(pieces, special), vocab, packed, options.startWorker ?? false);
}
