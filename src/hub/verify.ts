// Re-checks a file already in the cache against what the hub says it should be.
import { createHash } from 'node:crypto';
import fs from 'node:fs';

import type { Sibling } from './model-info.js';

async function digest(p: string, algo: 'sha256' | 'sha1', prefix?: string): Promise<string> {
  const h = createHash(algo);
  if (prefix) h.update(prefix);
  for await (const chunk of fs.createReadStream(p)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** True when the file's sha256 (LFS) or git blob id (regular file) matches; true too when the hub gave neither. */
export async function matchesHub(p: string, sibling: Sibling | undefined, etag?: string): Promise<boolean> {
  const size = fs.statSync(p).size;
  const sha256 = sibling?.lfs?.sha256 ?? (etag && /^[0-9a-f]{64}$/.test(etag) ? etag : undefined);
  if (sha256) return (sibling?.lfs?.size ?? size) === size && (await digest(p, 'sha256')) === sha256;
  if (sibling?.blobId && /^[0-9a-f]{40}$/.test(sibling.blobId)) {
    return (sibling.size ?? size) === size && (await digest(p, 'sha1', `blob ${size}\0`)) === sibling.blobId;
  }
  return true;
}
