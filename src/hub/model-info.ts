// The commit a revision points at and the repo's file list, from the hub's model-info API.
import { HubError } from './errors.js';
import { httpError } from './http-errors.js';
import type { HubHttp } from './http.js';
import { COMMIT_RE } from './cache.js';

/** One entry of `siblings` as the API gives it with blobs=true. */
export interface Sibling {
  rfilename: string;
  size?: number;
  /** The git blob id (sha1 of "blob <size>\0" + content) of the file or of its LFS pointer. */
  blobId?: string;
  lfs?: { sha256: string; size: number; pointerSize?: number };
}

export interface RepoSnapshotInfo {
  commit: string;
  gated: false | 'auto' | 'manual';
  siblings: Map<string, Sibling>;
}

/**
 * GET /api/models/<repo>/revision/<rev>?blobs=true, as huggingface_hub's
 * model_info(files_metadata=True) sends it. @huggingface/hub's modelInfo() cannot be used here:
 * it asks with expand[] and reduces siblings to bare file names, dropping the sizes and LFS
 * sha256s that the downloads are checked against.
 */
export async function fetchRepoInfo(http: HubHttp, repo: string, revision: string): Promise<RepoSnapshotInfo> {
  const url = `${http.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const res = await http.request(url, { timeout: true });
  if (!res.ok) throw await httpError(res, http.context(repo, revision));
  let raw: { sha?: unknown; siblings?: unknown; gated?: unknown };
  try {
    raw = (await res.json()) as typeof raw;
  } catch (err) {
    throw http.failure(err, url);
  }
  if (typeof raw.sha !== 'string' || !COMMIT_RE.test(raw.sha) || !Array.isArray(raw.siblings)) {
    throw new HubError('ERR_HUB_BAD_RESPONSE', `${http.endpoint} sent model info for ${repo} without a commit hash or file list: is HF_ENDPOINT a Hugging Face hub?`);
  }
  const siblings = new Map<string, Sibling>();
  for (const s of raw.siblings as Sibling[]) {
    if (s && typeof s.rfilename === 'string') siblings.set(s.rfilename, s);
  }
  return { commit: raw.sha, gated: (raw.gated as RepoSnapshotInfo['gated']) ?? false, siblings };
}
