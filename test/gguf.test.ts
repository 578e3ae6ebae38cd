// The GGUF reader against truncated, corrupted and hand-made hostile files: every one must give
// a JS Error (code ERR_BAD_MODEL_FILE) or load as a model that decodes; none may crash.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Model } from '../src/runtime/index.js';
import { dataStart } from './helpers/gguf-edit.js';
import { root, tinyModel } from './helpers/models.js';
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

describe('truncated files', () => {
  it('rejects every truncation point with ERR_BAD_MODEL_FILE naming the problem', async () => {
    const end = dataStart(original);
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
    const end = dataStart(original);
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

  // one tensor's info: name, dims, type, offset
  const tensorInfo = (name: string, dims: bigint[], type = 0) => {
    const n = Buffer.from(name);
    const b = Buffer.alloc(8 + n.length + 4 + 8 * dims.length + 4 + 8);
    b.writeBigUInt64LE(BigInt(n.length), 0);
    n.copy(b, 8);
    let o = 8 + n.length;
    b.writeUInt32LE(dims.length, o);
    o += 4;
    for (const d of dims) {
      b.writeBigInt64LE(d, o);
      o += 8;
    }
    b.writeUInt32LE(type, o);
    return b; // offset 0
  };

  const cases: Array<[string, Buffer, RegExp]> = [
    ['bad magic', Buffer.from('GGML0000000000000000000000000000'), /bad magic/],
    ['version 1', (() => { const b = header(0n, 0n); b.writeUInt32LE(1, 4); return b; })(), /unsupported GGUF version 1/],
    ['2^63 metadata entries', header(0n, 1n << 63n), /metadata count .* cannot fit/],
    ['2^40 tensors', header(1n << 40n, 0n), /tensor count .* cannot fit/],
    ['a string claiming 2^62 bytes', Buffer.concat([header(0n, 1n), kvString('general.name', 1n << 62n)]), /implausible length/],
    ['a string longer than the file', Buffer.concat([header(0n, 1n), kvString('general.name', 1000n, 'abc')]), /truncated/],
    // 2^80 F32 elements: 2^82 bytes wrap to 0 in 64 bits, which a check after multiplying misses
    ['a 2^40 x 2^40 tensor', Buffer.concat([header(1n, 0n), tensorInfo('w', [1n << 40n, 1n << 40n]), Buffer.alloc(64)]), /larger than the whole file/],
    ['a 2^40 x 2^40 x 2^40 x 2^40 tensor', Buffer.concat([header(1n, 0n), tensorInfo('w', [1n << 40n, 1n << 40n, 1n << 40n, 1n << 40n]), Buffer.alloc(64)]),
      /larger than the whole file/],
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

// Metadata values as a hostile or careless writer leaves them (written by gguf-py through
// make-tiny-gemma --set/--drop; the tensors are the valid ones): each is a clear error naming
// the key, or a model that loads and decodes. None may crash or abort the process.
describe('hostile metadata values', () => {
  const gen = path.join(root, 'scripts', 'make-tiny-gemma');
  const make = (arch: string, flags: string[]) => {
    const out = path.join(dir, `meta-${Math.random().toString(36).slice(2)}.gguf`);
    execFileSync('python3', [gen, '--arch', arch, '--seed', '1', '--out', out, ...flags]);
    return out;
  };
  const refused: Array<[string, string, string[], RegExp]> = [
    ['a NaN in the per-layer feed-forward sizes', 'gemma2', ['--set', 'gemma2.feed_forward_length=arr:[128,NaN,128,128]'], /'gemma2.feed_forward_length' element 1 must be an integer/],
    ['1e20 as a feed-forward size', 'gemma2', ['--set', 'gemma2.feed_forward_length=arr:[128,1e20,128,128]'], /element 1 must be an integer/],
    ['per-layer sizes for the wrong number of layers', 'gemma2', ['--set', 'gemma2.feed_forward_length=arr:[128,128]'], /one number per layer \(4\)/],
    ['a sliding-window flag of 2', 'gemma3', ['--set', 'gemma3.attention.sliding_window_pattern=arr:[1,1,2,1,1,0]'], /sliding_window_pattern' element 2 must be an integer in 0..1/],
    ['a per-layer pattern of strings', 'gemma3', ['--set', 'gemma3.attention.sliding_window_pattern=arr:["a","b","c","d","e","f"]'], /one number per layer/],
    ['a NaN soft-cap', 'gemma2', ['--set', 'gemma2.attn_logit_softcapping=f32:NaN'], /'gemma2.attn_logit_softcapping' is not finite/],
    ['a negative soft-cap', 'gemma2', ['--set', 'gemma2.final_logit_softcapping=f32:-30'], /final soft-cap must be a positive finite number/],
    ['an infinite RoPE base', 'gemma3', ['--set', 'gemma3.rope.freq_base=f32:Infinity'], /'gemma3.rope.freq_base' is not finite/],
    ['a RoPE base of 1e30', 'gemma3', ['--set', 'gemma3.rope.freq_base=f32:1e30'], /RoPE base must be a positive finite number/],
    ['a zero sliding-layer RoPE base', 'gemma3', ['--set', 'gemma3.rope.freq_base_swa=f32:0'], /sliding layers' RoPE base must be/],
    ['a NaN RoPE scaling factor', 'gemma3', ['--set', 'gemma3.rope.scaling.factor=f32:NaN'], /'gemma3.rope.scaling.factor' is not finite/],
    ['a billion layers', 'gemma', ['--set', 'gemma.block_count=u64:1000000000'], /inconsistent attention shape/],
    ['2^40 as the sliding window', 'gemma2', ['--set', 'gemma2.attention.sliding_window=u64:1099511627776'], /sliding_window' is out of range/],
    ['a layer count written as a string', 'gemma', ['--set', 'gemma.block_count=str:"2"'], /'gemma.block_count' must be a number/],
    ['an odd head size', 'gemma3', ['--set', 'gemma3.attention.key_length=u32:15', '--set', 'gemma3.attention.value_length=u32:15'], /head size must be even/],
    ['a head size of 2^32 - 1', 'gemma3', ['--set', 'gemma3.attention.key_length=u32:4294967295'], /head sizes must be equal \(and at most 4096\)|head size/],
    ['a zero RMSNorm epsilon', 'gemma', ['--set', 'gemma.attention.layer_norm_rms_epsilon=f32:0'], /RMSNorm epsilon must be a positive finite number/],
    ['a negative query scalar', 'gemma2', ['--set', 'gemma2.attention.query_pre_attn_scalar=f32:-1'], /query_pre_attn_scalar must be a positive finite number/],
    ['no feed-forward size', 'gemma', ['--drop', 'gemma.feed_forward_length'], /missing metadata 'gemma.feed_forward_length'/],
    ['an unknown RoPE scaling type', 'gemma3', ['--set', 'gemma3.rope.scaling.type=str:"yarn"'], /RoPE scaling 'yarn' is not supported/],
  ];
  it.each(refused)('%s', async (_name, arch, flags, message) => {
    const err = await Model.open(make(arch, flags)).then(() => null, (e: Error & { code?: string }) => e);
    expect(err, 'opened').not.toBeNull();
    expect(err!.code, err!.message).toMatch(/^ERR_(BAD_MODEL_FILE|UNSUPPORTED_MODEL)$/);
    expect(err!.message).toMatch(message);
    expect(err!.message.length).toBeLessThan(400);
  });

  const accepted: Array<[string, string, string[], object]> = [
    // llama.cpp's set_swa_pattern(0): every layer slides
    ['a period of 0', 'gemma3', ['--set', 'gemma3.attention.sliding_window_pattern=u32:0'], { layerIsSwa: [true, true, true, true, true, true] }],
    ['a per-layer pattern', 'gemma3', ['--set', 'gemma3.attention.sliding_window_pattern=arr:[0,1,0,1,0,1]'], { layerIsSwa: [false, true, false, true, false, true] }],
    ['the old RoPE scaling key, no type', 'gemma3', ['--set', 'gemma3.rope.scale_linear=f32:4'], { ropeFreqScale: 0.25, ropeFreqScaleSwa: 1 }],
    ['a stated zero soft-cap (off)', 'gemma2', ['--set', 'gemma2.attn_logit_softcapping=f32:0'], { attnSoftcap: 0, finalSoftcap: 2 }],
    ['no key length (hidden / heads)', 'gemma', ['--drop', 'gemma.attention.key_length', '--drop', 'gemma.attention.value_length'], { headDim: 16 }],
  ];
  it.each(accepted)('%s loads as llama.cpp reads it, and decodes', async (_name, arch, flags, hparams) => {
    const file = make(arch, flags);
    const m = await Model.open(file);
    expect(m.info.hparams).toMatchObject(hparams);
    await m.close();
    expect(await loadOutcome(file)).toBe('loaded');
  });
});
