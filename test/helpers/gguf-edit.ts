// Reads and rewrites the layout of a GGUF file byte by byte (the tensor infos and data are kept
// as they are): where its data starts, and its metadata replaced for hostile-value sweeps that
// would take a generator run each otherwise.

/** GGUF value types (gguf.h). */
export const T = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STR: 8, ARR: 9, U64: 10, I64: 11, F64: 12 } as const;
const SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

interface Parsed {
  head: Buffer; // magic + version
  nTensors: bigint;
  kvs: Map<string, Buffer>; // key -> type + value bytes
  tensorInfos: Buffer;
  data: Buffer;
}

function parse(buf: Buffer): Parsed {
  let off = 8;
  const u64 = () => { const v = buf.readBigUInt64LE(off); off += 8; return v; };
  const u32 = () => { const v = buf.readUInt32LE(off); off += 4; return v; };
  const skipStr = () => { const n = Number(u64()); off += n; };
  const str = () => { const n = Number(u64()); const s = buf.toString('utf8', off, off + n); off += n; return s; };
  const nTensors = u64();
  const nKv = Number(u64());
  const kvs = new Map<string, Buffer>();
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const start = off;
    const t = u32();
    if (t === T.STR) skipStr();
    else if (t === T.ARR) {
      const et = u32();
      const n = Number(u64());
      if (et === T.STR) for (let j = 0; j < n; j++) skipStr();
      else off += n * SIZE[et]!;
    } else off += SIZE[t]!;
    kvs.set(key, buf.subarray(start, off));
  }
  const infoStart = off;
  for (let i = 0; i < Number(nTensors); i++) {
    skipStr();
    const nd = u32();
    off += nd * 8 + 4 + 8;
  }
  const tensorInfos = buf.subarray(infoStart, off);
  const dataStart = Math.ceil(off / 32) * 32;
  return { head: buf.subarray(0, 8), nTensors, kvs, tensorInfos, data: buf.subarray(dataStart) };
}

function strBytes(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([n, b]);
}

function scalar(type: number, v: number | bigint | boolean | string): Buffer {
  if (type === T.STR) return strBytes(String(v));
  const b = Buffer.alloc(SIZE[type]!);
  switch (type) {
    case T.U8: b.writeUInt8(Number(v)); break;
    case T.I8: b.writeInt8(Number(v)); break;
    case T.U16: b.writeUInt16LE(Number(v)); break;
    case T.I16: b.writeInt16LE(Number(v)); break;
    case T.U32: b.writeUInt32LE(Number(v)); break;
    case T.I32: b.writeInt32LE(Number(v)); break;
    case T.F32: b.writeFloatLE(Number(v)); break;
    case T.BOOL: b.writeUInt8(v ? 1 : 0); break;
    case T.U64: b.writeBigUInt64LE(BigInt(v)); break;
    case T.I64: b.writeBigInt64LE(BigInt(v)); break;
    case T.F64: b.writeDoubleLE(Number(v)); break;
  }
  return b;
}

const typeTag = (t: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(t); return b; };

/** A metadata value: [type, value] for scalars and strings, or an array of one element type. */
export type GgufValue =
  | { type: number; value: number | bigint | boolean | string }
  | { type: typeof T.ARR; elemType: number; values: Array<number | bigint | boolean | string> };

export function encodeValue(v: GgufValue): Buffer {
  if ('elemType' in v) {
    const n = Buffer.alloc(8);
    n.writeBigUInt64LE(BigInt(v.values.length));
    return Buffer.concat([typeTag(T.ARR), typeTag(v.elemType), n, ...v.values.map((x) => scalar(v.elemType, x))]);
  }
  return Buffer.concat([typeTag(v.type), scalar(v.type, v.value)]);
}

/** The file with `key` set to `value` (added if absent) or removed (value undefined). */
export function withMetadata(file: Buffer, key: string, value: GgufValue | undefined): Buffer {
  const p = parse(file);
  if (value === undefined) p.kvs.delete(key);
  else p.kvs.set(key, encodeValue(value));
  const counts = Buffer.alloc(16);
  counts.writeBigUInt64LE(p.nTensors, 0);
  counts.writeBigUInt64LE(BigInt(p.kvs.size), 8);
  const kvBytes = [...p.kvs].flatMap(([k, v]) => [strBytes(k), v]);
  const head = Buffer.concat([p.head, counts, ...kvBytes, p.tensorInfos]);
  const pad = Buffer.alloc((32 - (head.length % 32)) % 32);
  return Buffer.concat([head, pad, p.data]);
}

/** Where the tensor data starts: the end of the header, metadata and tensor infos (aligned). */
export function dataStart(file: Buffer): number {
  return file.length - parse(file).data.length;
}

/** The metadata keys of a file, in order. */
export function metadataKeys(file: Buffer): string[] {
  return [...parse(file).kvs.keys()];
}
