// Streams one file into blobs/<etag>.incomplete, resuming with a Range request from what an
// earlier attempt left, hashing while writing, and renames it to blobs/<etag> only once the
// size and hash are right: a partial or corrupt file never becomes a blob.
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

import { HubError } from './errors.js';
import { httpError } from './http-errors.js';
import type { HubHttp } from './http.js';
import { formatBytes, startProgress, type HubLogger, type ProgressMode } from './progress.js';

export interface BlobDownload {
  repo: string;
  revision: string;
  /** The file's path in the repo (for messages). */
  file: string;
  url: string;
  dest: string;
  size?: number;
  /** Expected sha256 (hex) of the content: the LFS oid. */
  sha256?: string;
  /** Expected git blob id of a regular (non-LFS) file: sha1("blob <size>\0" + content). */
  gitOid?: string;
  /** Attempts after a dropped connection before giving up (the partial file stays for the next run). */
  retries: number;
  progress: ProgressMode;
  logger: HubLogger;
}

class Interrupted extends Error {}

async function fileSize(p: string): Promise<number> {
  try {
    return (await fsp.stat(p)).size;
  } catch {
    return 0;
  }
}

function hashers(size: number | undefined, gitOid: string | undefined): { sha256: Hash; sha1?: Hash } {
  const sha256 = createHash('sha256');
  if (!gitOid || size === undefined) return { sha256 };
  const sha1 = createHash('sha1').update(`blob ${size}\0`);
  return { sha256, sha1 };
}

/** Feeds what is already in the partial file to the hashes, so that a resumed download is checked whole. */
async function hashExisting(p: string, h: { sha256: Hash; sha1?: Hash }, upTo: number): Promise<void> {
  if (upTo === 0) return;
  for await (const chunk of fs.createReadStream(p, { start: 0, end: upTo - 1 })) {
    h.sha256.update(chunk as Buffer);
    h.sha1?.update(chunk as Buffer);
  }
}

async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await fsp.statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

function diskFull(job: BlobDownload, done: number, free: number | undefined): HubError {
  const need = job.size !== undefined ? job.size - done : undefined;
  return new HubError('ERR_HUB_DISK_FULL',
    `not enough disk space for ${job.file} of ${job.repo} in ${path.dirname(job.dest)}: ` +
      (need !== undefined ? `it needs ${formatBytes(need)} more (${formatBytes(job.size!)} in all)` : 'the device is full') +
      (free !== undefined ? ` and ${formatBytes(free)} is free` : '') +
      `. Free some space or set HF_HUB_CACHE to a bigger disk, then run again (the part already downloaded is kept and resumed)`);
}

export async function downloadBlob(http: HubHttp, job: BlobDownload): Promise<void> {
  const partial = `${job.dest}.incomplete`;
  await fsp.mkdir(path.dirname(job.dest), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      await attemptDownload(http, job, partial);
      await fsp.rename(partial, job.dest);
      return;
    } catch (err) {
      if (!(err instanceof Interrupted)) throw err;
      const have = await fileSize(partial);
      if (attempt < job.retries) {
        job.logger.warn(`${job.file}: ${err.message} after ${formatBytes(have)}; resuming (attempt ${attempt + 2} of ${job.retries + 1})`);
        // a short, growing pause: a flapping link or a CDN node being replaced gets a moment
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5_000)));
        if (http.signal?.aborted) throw new HubError('ERR_ABORTED', 'the model download was aborted');
        continue;
      }
      throw new HubError('ERR_HUB_NETWORK',
        `the download of ${job.file} of ${job.repo} was interrupted (${err.message}) after ${formatBytes(have)}` +
          (job.size !== undefined ? ` of ${formatBytes(job.size)}` : '') +
          `: run the same command again to resume; the part already fetched is kept in ${partial}`);
    }
  }
}

async function attemptDownload(http: HubHttp, job: BlobDownload, partial: string): Promise<void> {
  let offset = await fileSize(partial);
  if (job.size !== undefined && offset > job.size) {
    await fsp.truncate(partial, 0);
    offset = 0;
  }
  const free = await freeBytes(path.dirname(job.dest));
  if (job.size !== undefined && free !== undefined && free < job.size - offset) throw diskFull(job, offset, free);

  let res: Response | undefined;
  if (job.size === undefined || offset < job.size) {
    try {
      res = await http.request(job.url, {
        headers: { 'Accept-Encoding': 'identity', ...(offset > 0 && { Range: `bytes=${offset}-` }) },
      });
    } catch (err) {
      if ((err as HubError).code === 'ERR_HUB_NETWORK') throw new Interrupted((err as Error).message);
      throw err;
    }
    if (res.status === 416 && offset > 0) {
      // the partial file does not fit what the server has now: start over
      await res.body?.cancel();
      await fsp.truncate(partial, 0);
      throw new Interrupted('the server refused to resume');
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      throw new Interrupted(`HTTP ${res.status}`);
    }
    if (!res.ok) throw await httpError(res, http.context(job.repo, job.revision, job.file));
    if (res.status === 206) {
      const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== offset) {
        await res.body?.cancel();
        await fsp.truncate(partial, 0);
        throw new Interrupted('the server resumed at the wrong place');
      }
    } else if (offset > 0) {
      offset = 0; // a 200 to a Range request: the whole file comes again
    }
  }

  const h = hashers(job.size, job.gitOid);
  await hashExisting(partial, h, offset);
  // 'w' truncates: a download that starts over does not keep stale bytes past its end
  const fh = await fsp.open(partial, offset > 0 ? 'r+' : 'w');
  const bar = startProgress(job.progress, job.logger, job.file, job.size, offset);
  let done = offset;
  try {
    if (res?.body) {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          await writeAll(fh, chunk, done, job);
          h.sha256.update(chunk);
          h.sha1?.update(chunk);
          done += chunk.length;
          bar.update(done);
          if (job.size !== undefined && done > job.size) break;
        }
      } catch (err) {
        if (err instanceof HubError) throw err;
        if (http.signal?.aborted) throw new HubError('ERR_ABORTED', 'the model download was aborted');
        throw new Interrupted('the connection dropped');
      }
    }
  } catch (err) {
    bar.abandon();
    throw err;
  } finally {
    await fh.close();
  }
  if (job.size !== undefined && done < job.size) {
    bar.abandon();
    throw new Interrupted('the connection closed early');
  }
  if (job.size !== undefined && done > job.size) {
    bar.abandon();
    await fsp.rm(partial, { force: true });
    throw new HubError('ERR_HUB_SIZE_MISMATCH',
      `${job.file} of ${job.repo}: the server sent more than the ${job.size} bytes the hub announced; the download was discarded, run again`);
  }
  const sha256 = h.sha256.digest('hex');
  const sha1 = h.sha1?.digest('hex');
  if ((job.sha256 && sha256 !== job.sha256.toLowerCase()) || (job.gitOid && sha1 && sha1 !== job.gitOid.toLowerCase())) {
    bar.abandon();
    await fsp.rm(partial, { force: true });
    const [kind, want, got] = job.sha256 ? ['sha256', job.sha256, sha256] : ['git blob id', job.gitOid!, sha1!];
    throw new HubError('ERR_HUB_CHECKSUM',
      `${job.file} of ${job.repo} is corrupt: its ${kind} is ${got}, the hub says ${want}. ` +
        `The download was discarded (nothing was cached); run again, and if it repeats, report it to the repo owner`);
  }
  bar.finish();
}

async function writeAll(fh: fsp.FileHandle, chunk: Uint8Array, position: number, job: BlobDownload): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    try {
      const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, position + off);
      off += bytesWritten;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC' || (err as NodeJS.ErrnoException).code === 'EDQUOT') {
        throw diskFull(job, position + off, await freeBytes(path.dirname(job.dest)));
      }
      throw new HubError('ERR_HUB_WRITE', `cannot write ${job.file} to ${path.dirname(job.dest)}: ${(err as Error).message}`);
    }
  }
}
