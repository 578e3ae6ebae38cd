// The tokenizer of a GGUF-only model, built from its tokenizer.ggml.* metadata.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import type { GgufMetadataValue } from '../runtime/addon.js';
import { TokenizerError } from './errors.js';
import { type GgufVocab, readGgufVocab, TokenType } from './gguf-vocab.js';
import { SpmEncoder } from './spm.js';
import { byteOfPiece, TokenTable } from './token-table.js';
import { type SpecialSettings, TableTokenizer } from './table-tokenizer.js';
import type { Tokenizer } from './types.js';

/** Texts this long (about 4,000 tokens, ~20 ms here) are encoded on a worker thread. */
const OFF_THREAD_CHARS = 16_384;
/** The worker ends after this long without work (it holds a copy of the vocabulary). */
const WORKER_IDLE_MS = 10_000;
// the compiled worker (dist/), also when this module runs from src/ under the tests
const workerScript = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'), 'dist', 'tokenizer', 'spm-worker.js');

/** Runs SpmEncoder.encode on a worker thread, started on first use and ended when idle. */
class SpmWorker {
  private worker: Worker | null = null;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (ids: Int32Array) => void; reject: (err: Error) => void }>();
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly vocab: GgufVocab) {}

  static available(): boolean {
    return fs.existsSync(workerScript);
  }

  encode(text: string): Promise<Int32Array> {
    clearTimeout(this.idle);
    const w = (this.worker ??= this.start());
    const id = this.next++;
    return new Promise<Int32Array>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      w.ref(); // keeps the process alive while a caller waits on it
      w.postMessage({ id, text });
    });
  }

  private start(): Worker {
    const w = new Worker(workerScript, { workerData: this.vocab });
    w.on('message', (m: { id: number; ids?: Int32Array; error?: string }) => {
      const p = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.ids) p?.resolve(m.ids);
      else p?.reject(new TokenizerError('ERR_TOKENIZER', `tokenizing failed: ${m.error}`));
      if (this.waiting.size === 0) {
        w.unref();
        this.idle = setTimeout(() => this.stop(), WORKER_IDLE_MS).unref();
      }
    });
    w.on('error', (err) => this.fail(w, err));
    w.on('exit', () => this.fail(w, new Error('the tokenizer worker stopped')));
    return w;
  }

  private fail(w: Worker, err: Error): void {
    if (this.worker !== w) return; // an idle worker that was ended on purpose
    this.worker = null;
    for (const p of this.waiting.values()) p.reject(new TokenizerError('ERR_TOKENIZER', `tokenizing failed: ${err.message}`));
    this.waiting.clear();
  }

  private stop(): void {
    const w = this.worker;
    this.worker = null;
    void w?.terminate();
  }
}

class GgufTokenizer extends TableTokenizer {
  private readonly offThread: SpmWorker | null;

  constructor(
    private readonly spm: SpmEncoder,
    table: TokenTable,
    settings: SpecialSettings,
    vocab: GgufVocab,
  ) {
    super(table, settings);
    this.offThread = SpmWorker.available() ? new SpmWorker(vocab) : null;
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

/** Builds the tokenizer a GGUF file carries (SentencePiece "llama" vocabularies, as Gemma's). */
export async function tokenizerFromGguf(metadata: Record<string, GgufMetadataValue>): Promise<Tokenizer> {
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
  return new GgufTokenizer(new SpmEncoder(vocab), new TokenTable(pieces, special), vocab, vocab);
}
