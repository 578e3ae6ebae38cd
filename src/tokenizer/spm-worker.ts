// A worker thread that runs the SentencePiece encoder for long texts (from-gguf.ts), so that
// tokenizing a 100,000-token prompt does not stop every other stream for half a second. It
// builds its own encoder from the vocabulary it is given, then answers { id, text } with
// { id, ids } (or { id, error }).
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

import type { GgufVocab } from './gguf-vocab.js';
import { SpmEncoder } from './spm.js';

// Lowest CPU priority: the decode steps of running streams come first and this takes what is
// left (on Linux a nice value belongs to a thread, so only this worker is lowered).
try {
  os.setPriority(19);
} catch {
  // not permitted here: the worker runs at normal priority
}
const encoder = new SpmEncoder(workerData as GgufVocab);
parentPort!.on('message', (m: { id: number; text: string }) => {
  try {
    const out: number[] = [];
    encoder.encode(m.text, out);
    const ids = Int32Array.from(out);
    parentPort!.postMessage({ id: m.id, ids }, [ids.buffer]);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).message });
  }
});
