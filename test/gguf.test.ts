// The GGUF reader against truncated, corrupted and hand-made hostile files: every one must give
// a JS Error (code ERR_BAD_MODEL_FILE) or load as a model that decodes; none may crash.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Model } from '../src/runtime/index.js';
import { tinyModel } from './helpers/models.js';
import { loadOutcome } from './helpers/outcome.js';

let dir: string;
let original: Buffer;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-gguf-'));
  original = fs.readFileSync(tinyModel('gemma2', 'q8_0'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

/** Where the tensor data starts: the end of the header, metadata and tensor infos (aligned). */
function headerEnd(buf: Buffer): number {
  let off = 8;
  const u64 = () => { const v = Number(buf.readBigUInt64LE(off)); off += 8; return v; };
  const u32 = () => { const v = buf.readUInt32LE(off); off += 4; return v; };
  const str = () => { const n = u64(); off += n; };
  const sizes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const nT = u64();
  const nKv = u64();
  for (let i = 0; i < nKv; i++) {
    str();
    const t = u32();
    if (t === 8) str();
    else if (t === 9) {
      const et = u32();
      const n = u64();
      if (et === 8) for (let j = 0; j < n; j++) str();
      else off += n * sizes[et]!;
    } else off += sizes[t]!;
  }
  for (let i = 0; i < nT; i++) {
    str();
    const nd = u32();
    off += nd * 8 + 4 + 8;
  }
  return Math.ceil(off / 32) * 32;
}

describe('truncated files', () => {
  it('rejects every truncation point with ERR_BAD_MODEL_FILE naming the problem', async () => {
    const end = headerEnd(original);
    const points = new Set<number>([0, 1, 3, 4, 7, 8, 15, 16, 23, 24, end - 1, end, end + 1, original.length - 1]);
    for (let p = 25; p < end; p += 53) points.add(p);
    for (let p = end; p < original.length; p += Math.floor((original.length - end) / 40)) points.add(p);
    let i = 0;
    for (const p of [...points].sort((a, b) => a - b)) {
      const file = write(`trunc-${i++}.gguf`, original.subarray(0, p));
      const err = await Model.open(file).then(
        () => null,
        (e: Error & { code?: string }) => e,
      );
      expect(err, `truncated at ${p} of ${original.length}`).not.toBeNull();
      expect(err!.code, `truncated at ${p}: ${err!.message}`).toBe('ERR_BAD_MODEL_FILE');
      expect(err!.message).toMatch(p === 0 ? /empty/ : /truncated|bad magic|cannot fit|implausible|ends at|no room|count/);
      fs.rmSync(file);
    }
  });
});

describe('corrupted files', () => {
  it('survives a byte flipped at hundreds of places in the header and the data', async () => {
    const end = headerEnd(original);
    const outcomes = new Map<string, number>();
    const places: number[] = [];
    for (let p = 0; p < end; p += 7) places.push(p);
    for (let p = end; p < original.length; p += Math.floor((original.length - end) / 25)) places.push(p);
    for (const p of places) {
      for (const mask of [0xff, 0x01, 0x80]) {
        const bytes = Buffer.from(original);
        bytes[p] = bytes[p]! ^ mask;
        const file = write('flip.gguf', bytes);
        const outcome = await loadOutcome(file);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    }
    // both kinds happen: corrupted structure is refused, corrupted weights still load
    expect(outcomes.get('ERR_BAD_MODEL_FILE')).toBeGreaterThan(50);
    expect(outcomes.get('loaded')).toBeGreaterThan(10);
  });
});

describe('hostile headers', () => {
  const header = (nTensors: bigint, nKv: bigint) => {
    const b = Buffer.alloc(24);
    b.write('GGUF', 0);
    b.writeUInt32LE(3, 4);
    b.writeBigUInt64LE(nTensors, 8);
    b.writeBigUInt64LE(nKv, 16);
    return b;
  };
  const kvString = (key: string, len: bigint, body = '') => {
    const k = Buffer.from(key);
    const b = Buffer.alloc(8 + k.length + 4 + 8);
    b.writeBigUInt64LE(BigInt(k.length), 0);
    k.copy(b, 8);
    b.writeUInt32LE(8, 8 + k.length);
    b.writeBigUInt64LE(len, 12 + k.length);
    return Buffer.concat([b, Buffer.from(body)]);
  };

  const cases: Array<[string, Buffer, RegExp]> = [
    ['bad magic', Buffer.from('GGML0000000000000000000000000000'), /bad magic/],
    ['version 1', (() => { const b = header(0n, 0n); b.writeUInt32LE(1, 4); return b; })(), /unsupported GGUF version 1/],
    ['2^63 metadata entries', header(0n, 1n << 63n), /metadata count .* cannot fit/],
    ['2^40 tensors', header(1n << 40n, 0n), /tensor count .* cannot fit/],
    ['a string claiming 2^62 bytes', Buffer.concat([header(0n, 1n), kvString('general.name', 1n << 62n)]), /implausible length/],
    ['a string longer than the file', Buffer.concat([header(0n, 1n), kvString('general.name', 1000n, 'abc')]), /truncated/],
    ['no architecture', Buffer.concat([header(0n, 1n), kvString('general.name', 3n, 'abc')]), /general.architecture/],
  ];
  it.each(cases)('%s', async (_name, bytes, message) => {
    const file = write('hostile.gguf', bytes);
    await expect(Model.open(file)).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE', message: expect.stringMatching(message) });
  });

  it('a missing file and a directory are clear errors', async () => {
    await expect(Model.open(path.join(dir, 'nope.gguf'))).rejects.toMatchObject({ code: 'ERR_MODEL_NOT_FOUND' });
    await expect(Model.open(dir)).rejects.toMatchObject({ code: 'ERR_MODEL_OPEN' });
  });

  it('an unsupported architecture names itself', async () => {
    const b = Buffer.concat([header(0n, 1n), kvString('general.architecture', 5n, 'llama')]);
    await expect(Model.open(write('llama.gguf', b))).rejects.toMatchObject({
      code: 'ERR_UNSUPPORTED_ARCH',
      message: expect.stringMatching(/'llama' is not supported/),
    });
  });
});
