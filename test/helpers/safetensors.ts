// Reading and writing safetensors files in tests (the format: u64 little-endian header length,
// a JSON header of {name: {dtype, shape, data_offsets}} plus __metadata__, then the data).
import fs from 'node:fs';

export interface StTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Buffer;
}

/** The tensors of a safetensors file, in data order. */
export function readSafetensors(file: string): StTensor[] {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = buf.subarray(8 + n);
  return Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, bytes: data.subarray(t.data_offsets[0], t.data_offsets[1]) }))
    .sort((a, b) => a.bytes.byteOffset - b.bytes.byteOffset);
}

/** A safetensors file from a header text (any bytes) and a data section. */
export function rawSafetensors(header: string | Buffer, data: Buffer = Buffer.alloc(0), length?: bigint): Buffer {
  const h = typeof header === 'string' ? Buffer.from(header) : header;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(length ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

/** Writes tensors back to back, as the reference library does (header padded to 8 bytes). */
export function writeSafetensors(file: string, tensors: StTensor[]): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
    off += t.bytes.length;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  fs.writeFileSync(file, rawSafetensors(text, Buffer.concat(tensors.map((t) => t.bytes))));
}
