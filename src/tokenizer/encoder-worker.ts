// A worker thread that runs a GGUF vocabulary's encoder (SentencePiece or WordPiece) for long
// texts (from-gguf.ts), so that tokenizing a 100,000-token prompt does not stop every other
// stream for half a second. It builds its own encoder from the description it is given (the
// vocabulary packed in shared memory), then answers { id, text } with { id, ids } (or { id, error }).
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

import { native } from '../runtime/native.js';
import { type EncoderSpec, makeEncoder } from './encoders.js';

// Only otherwise idle CPU: the decode steps of running streams come first. At nice 19 alone
// the worker still took a share from the decode threads on a 2-core machine (the median
// inter-token gap of a running stream rose from 23 to 30 ms, the worst past 50). A priority
// belongs to a thread here, so only this worker is lowered.
let lowered = false;
try {
  lowered = native().lowerThreadToIdle();
} catch {
  // no addon here (a bare checkout): nice 19 below is what is left
}
if (!lowered) {
  try {
    os.setPriority(19);
  } catch {
    // not permitted here: the worker runs at normal priority
  }
}
const encoder = makeEncoder(workerData as EncoderSpec);
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
