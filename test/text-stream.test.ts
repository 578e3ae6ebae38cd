import { describe, expect, it } from 'vitest';

import { TextStream } from '../src/engine/text-stream.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
const utf8 = (s: string) => new TextEncoder().encode(s);

describe('TextStream: UTF-8', () => {
  it('holds a multi-byte character split across tokens until it is complete', () => {
    const t = new TextStream([]);
    expect(t.push(bytes(0x63, 0x61, 0x66, 0xc3)).text).toBe('caf');
    expect(t.push(bytes(0xa9)).text).toBe('é');
  });

  it('an emoji arriving byte by byte (byte-fallback tokens) comes out whole', () => {
    const t = new TextStream([]);
    const out = [...utf8('🦙')].map((b) => t.push(bytes(b)).text);
    expect(out).toEqual(['', '', '', '🦙']);
  });

  it('invalid bytes become U+FFFD, never a broken string', () => {
    const t = new TextStream([]);
    expect(t.push(bytes(0xff, 0x41)).text).toBe('\uFFFDA');
    expect(t.push(bytes(0xe2, 0x82)).text).toBe('');
    expect(t.finish()).toBe('\uFFFD'); // an unfinished character at the end
  });

  it('a ZWJ sequence split across tokens', () => {
    const t = new TextStream([]);
    const all = utf8('👩‍💻 ok');
    let out = '';
    for (let i = 0; i < all.length; i += 3) out += t.push(all.subarray(i, i + 3)).text;
    out += t.finish();
    expect(out).toBe('👩‍💻 ok');
  });
});

describe('TextStream: stop strings', () => {
  it('matches across token boundaries without emitting any part of the stop string', () => {
    const t = new TextStream(['###']);
    expect(t.push(utf8('a#'))).toEqual({ text: 'a' });
    expect(t.push(utf8('#'))).toEqual({ text: '' });
    expect(t.push(utf8('#b'))).toEqual({ text: '', stop: '###' });
    expect(t.push(utf8('more'))).toEqual({ text: '' });
    expect(t.finish()).toBe('');
  });

  it('releases held text once it cannot be a stop string', () => {
    const t = new TextStream(['###']);
    expect(t.push(utf8('a##')).text).toBe('a');
    expect(t.push(utf8('x')).text).toBe('##x');
  });

  it('returns the text before the earliest stop string', () => {
    const t = new TextStream(['END', 'ND!']);
    expect(t.push(utf8('hello EN'))).toEqual({ text: 'hello ' });
    expect(t.push(utf8('D!'))).toEqual({ text: '', stop: 'END' });
  });

  it('a stop string inside one token', () => {
    const t = new TextStream(['\n\n']);
    expect(t.push(utf8('line\n\nnext'))).toEqual({ text: 'line', stop: '\n\n' });
  });

  it('a stop string made of a multi-byte character split across tokens', () => {
    const t = new TextStream(['é']);
    expect(t.push(bytes(0x61, 0xc3))).toEqual({ text: 'a' });
    expect(t.push(bytes(0xa9, 0x62))).toEqual({ text: '', stop: 'é' });
  });

  it('finish releases what was held', () => {
    const t = new TextStream(['STOP']);
    expect(t.push(utf8('x ST')).text).toBe('x ');
    expect(t.finish()).toBe('ST');
  });
});
