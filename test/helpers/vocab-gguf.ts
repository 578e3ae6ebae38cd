// A vocabulary-only GGUF: a BERT header (the hyper-parameters llama.cpp's loader asks for) and
// tokenizer.ggml.* metadata, no tensors. node-llama-cpp loads it with vocabOnly: true, so that a
// test can ask llama.cpp how it tokenizes any vocabulary it makes up.
import fs from 'node:fs';

import { encodeValue, T, type GgufValue } from './gguf-edit.js';

export type VocabGgufValue = string | number | boolean | string[] | Int32Array;

function value(key: string, v: VocabGgufValue): GgufValue {
  if (typeof v === 'string') return { type: T.STR, value: v };
  if (typeof v === 'boolean') return { type: T.BOOL, value: v };
  if (typeof v === 'number') return { type: key.endsWith('layer_norm_epsilon') ? T.F32 : T.U32, value: v };
  if (v instanceof Int32Array) return { type: T.ARR, elemType: T.I32, values: Array.from(v) };
  return { type: T.ARR, elemType: T.STR, values: v };
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([n, b]);
}

/** Writes `metadata` (tokenizer.ggml.* keys) after a tiny BERT's hyper-parameters. */
export function writeVocabGguf(file: string, metadata: Record<string, VocabGgufValue>): void {
  const kvs: Record<string, VocabGgufValue> = {
    'general.architecture': 'bert',
    'general.name': 'vocabulary only',
    'bert.context_length': 512,
    'bert.embedding_length': 64,
    'bert.feed_forward_length': 128,
    'bert.block_count': 1,
    'bert.attention.head_count': 4,
    'bert.attention.layer_norm_epsilon': 1e-12,
    'bert.attention.causal': false,
    'tokenizer.ggml.token_type_count': 2,
    ...metadata,
  };
  const head = Buffer.alloc(24);
  head.write('GGUF', 0, 'latin1');
  head.writeUInt32LE(3, 4);
  head.writeBigUInt64LE(0n, 8); // tensors
  head.writeBigUInt64LE(BigInt(Object.keys(kvs).length), 16);
  const parts: Buffer[] = [head];
  for (const [k, v] of Object.entries(kvs)) parts.push(str(k), encodeValue(value(k, v)));
  fs.writeFileSync(file, Buffer.concat(parts));
}

