// What huggingface_hub learns before downloading a file: a HEAD on resolve/<rev>/<file> that
// follows only same-host (relative) redirects, so that the hub's 302 to its CDN is read rather
// than followed: that answer carries the LFS sha256 (X-Linked-Etag) and size (X-Linked-Size).
import { encodeShardFilename } from '@huggingface/hub';

import { HubError } from './errors.js';
import { httpError } from './http-errors.js';
import type { HubHttp } from './http.js';

export interface FileMeta {
  /** The blob name in the cache: the LFS sha256, or the git blob id of a regular file. */
  etag: string;
  size: number | undefined;
  commit: string | undefined;
  /** Where to GET the bytes: the CDN URL of an LFS file, else the resolve URL. */
  url: string;
}

export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${encodeShardFilename(file)}`;
}

/** As huggingface_hub normalises it: no weak-validator prefix, no quotes. */
export function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

export async function fileMetadata(http: HubHttp, repo: string, revision: string, file: string): Promise<FileMeta> {
  let url = resolveUrl(http.endpoint, repo, revision, file);
  for (let hops = 0; ; hops++) {
    const res = await http.request(url, {
      method: 'HEAD',
      redirect: 'manual',
      // the real size, not that of a compressed transfer
      headers: { 'Accept-Encoding': 'identity' },
      timeout: true,
    });
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location && !/^[a-z][a-z0-9+.-]*:/i.test(location) && !location.startsWith('//')) {
      // a renamed repo or the hub's resolve cache: same host, keep asking it
      if (hops >= 5) throw new HubError('ERR_HUB_BAD_RESPONSE', `too many redirects resolving ${file} of ${repo}`);
      url = new URL(location, url).href;
      continue;
    }
    if (!res.ok && !(res.status >= 300 && res.status < 400)) throw await httpError(res, http.context(repo, revision, file));
    const etag = res.headers.get('x-linked-etag') ?? res.headers.get('etag');
    if (!etag) {
      throw new HubError('ERR_HUB_BAD_RESPONSE', `${http.endpoint} gave no ETag for ${file} of ${repo}: the download could not be checked or cached`);
    }
    // it becomes a file name under blobs/: a hostile server must not climb out with it
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(normalizeEtag(etag))) {
      throw new HubError('ERR_HUB_BAD_RESPONSE', `${http.endpoint} gave an unusable ETag for ${file} of ${repo}`);
    }
    const sizeText = res.headers.get('x-linked-size') ?? res.headers.get('content-length');
    const size = sizeText !== null && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined;
    return {
      etag: normalizeEtag(etag),
      size,
      commit: res.headers.get('x-repo-commit') ?? undefined,
      url: location ? new URL(location, url).href : url,
    };
  }
}
