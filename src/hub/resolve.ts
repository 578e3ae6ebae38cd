// resolveModel: from a model reference to a local path, downloading into the hub cache what is
// missing. Online, the revision is resolved to a commit by the hub; offline (or when the hub
// cannot be reached), by refs/ in the cache.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

import {
  blobPath, cachedRevisions, COMMIT_RE, linkSnapshotFile, readRef, repoCacheDir, snapshotHas, snapshotPath, writeRef,
} from './cache.js';
import { downloadBlob } from './download.js';
import { HubError } from './errors.js';
import { fileMetadata } from './file-meta.js';
import { lockPath, withLock } from './lock.js';
import { planHfFiles, REQUIRED_HF_FILES, SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE, shardsFromIndex } from './files.js';
import { HubHttp } from './http.js';
import { fetchRepoInfo, type Sibling } from './model-info.js';
import { envOffline, hubCacheDir, hubEndpoint } from './paths.js';
import { stderrLogger, type HubLogger, type ProgressMode } from './progress.js';
import { parseModelRef, type ModelRef } from './ref.js';
import { resolveToken } from './token.js';
import { matchesHub } from './verify.js';

export interface ResolvedModel {
  /** The reference as given. */
  ref: string;
  format: 'gguf' | 'hf';
  /** A .gguf file, or an HF model directory (a snapshot directory for hub models). */
  path: string;
  repo?: string;
  /** The revision asked for (default 'main'). */
  revision?: string;
  /** The commit it resolved to. */
  commit?: string;
}

export interface ResolveOptions {
  /** Use the cache only (default: HF_HUB_OFFLINE). */
  offline?: boolean;
  /** HF token (default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, or the `huggingface-cli login` file). */
  token?: string;
  /** Hub URL (default: HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  /** Hub cache directory (default: HF_HUB_CACHE or $HF_HOME/hub). */
  cacheDir?: string;
  signal?: AbortSignal;
  /** 'auto' (default): a bar when stderr is a terminal, else log lines. */
  progress?: ProgressMode;
  logger?: HubLogger;
  /** Re-hash files already in the cache against the hub's sha256 / git blob ids (`pull` does). */
  verify?: boolean;
  /** Resume attempts after a dropped connection within one call (default 3). */
  retries?: number;
}

export async function resolveModel(ref: string, options: ResolveOptions = {}): Promise<ResolvedModel> {
  const parsed = parseModelRef(ref);
  if (parsed.kind === 'local-gguf') return { ref, format: 'gguf', path: parsed.path };
  if (parsed.kind === 'local-dir') return { ref, format: 'hf', path: parsed.path };
  return resolveHub(ref, parsed, options);
}

type HubRef = Extract<ModelRef, { kind: 'hub' }>;

/** The snapshot path if everything the model needs is in the cache for that commit. */
function completeSnapshot(repoDir: string, commit: string, parsed: HubRef): string | undefined {
  const dir = snapshotPath(repoDir, commit);
  if (parsed.file) return snapshotHas(repoDir, commit, parsed.file) ? snapshotPath(repoDir, commit, parsed.file) : undefined;
  if (!REQUIRED_HF_FILES.every((f) => snapshotHas(repoDir, commit, f))) return undefined;
  if (snapshotHas(repoDir, commit, SAFETENSORS_FILE)) return dir;
  if (!snapshotHas(repoDir, commit, SAFETENSORS_INDEX_FILE)) return undefined;
  try {
    const shards = shardsFromIndex(parsed.repo, snapshotPath(repoDir, commit, SAFETENSORS_INDEX_FILE));
    return shards.every((s) => snapshotHas(repoDir, commit, s)) ? dir : undefined;
  } catch {
    return undefined;
  }
}

function describeCached(repoDir: string, repo: string): string {
  const revs = cachedRevisions(repoDir);
  if (!revs.length) return `nothing of ${repo} is cached`;
  return `cached revisions of ${repo}: ` + revs.map((r) => r.commit + (r.refs.length ? ` (${r.refs.join(', ')})` : '')).join('; ');
}

function fromCache(repoDir: string, parsed: HubRef, revision: string): { commit: string; path: string } | undefined {
  const commit = readRef(repoDir, revision);
  const p = commit && completeSnapshot(repoDir, commit, parsed);
  return commit && p ? { commit, path: p } : undefined;
}

async function resolveHub(ref: string, parsed: HubRef, options: ResolveOptions): Promise<ResolvedModel> {
  const cacheDir = options.cacheDir ?? hubCacheDir();
  const repoDir = repoCacheDir(cacheDir, parsed.repo);
  const revision = parsed.revision ?? 'main';
  const logger = options.logger ?? stderrLogger;
  const format = parsed.file ? 'gguf' : 'hf';
  const result = (commit: string, p: string): ResolvedModel => ({ ref, format, path: p, repo: parsed.repo, revision, commit });

  if (options.offline ?? envOffline()) {
    const hit = fromCache(repoDir, parsed, revision);
    if (hit) return result(hit.commit, hit.path);
    throw new HubError('ERR_HUB_NOT_CACHED',
      `${ref} is not complete in the hub cache (${cacheDir}) and offline mode is on: ${describeCached(repoDir, parsed.repo)}. ` +
        `Name a cached revision (${parsed.repo}@<commit>), or run \`predict-otron pull ${ref}\` with network access and HF_HUB_OFFLINE unset`);
  }

  const http = new HubHttp({
    endpoint: (options.endpoint ?? hubEndpoint()).replace(/\/+$/, ''),
    token: resolveToken(options.token),
    signal: options.signal,
  });
  let info;
  try {
    info = await fetchRepoInfo(http, parsed.repo, revision);
  } catch (err) {
    const code = (err as HubError).code;
    if (code !== 'ERR_HUB_NETWORK' && code !== 'ERR_HUB_HTTP' && code !== 'ERR_HUB_RATE_LIMITED') throw err;
    // as huggingface_hub does: when the hub cannot answer, a cached copy of the revision is good enough
    const hit = fromCache(repoDir, parsed, revision);
    if (hit) {
      logger.warn(`${(err as Error).message}; using the cached ${parsed.repo} at ${hit.commit}`);
      return result(hit.commit, hit.path);
    }
    if (code !== 'ERR_HUB_NETWORK') throw err;
    throw new HubError('ERR_HUB_NETWORK',
      `${(err as Error).message}, so ${ref} cannot be resolved, and it is not in the cache (${cacheDir}); ${describeCached(repoDir, parsed.repo)}. ` +
        `Check the network (and HF_ENDPOINT), or set HF_HUB_OFFLINE=1 to use only what is cached`);
  }

  const fetcher = new FileFetcher(http, repoDir, parsed.repo, info.commit, info.siblings, options, logger);
  let out: string;
  if (parsed.file) {
    if (!info.siblings.has(parsed.file)) {
      const ggufs = [...info.siblings.keys()].filter((f) => /\.gguf$/i.test(f));
      throw new HubError('ERR_HUB_FILE_NOT_FOUND',
        `${parsed.file} was not found in ${parsed.repo} at revision '${revision}'` +
          (ggufs.length ? `; its GGUF files are: ${ggufs.slice(0, 10).join(', ')}` : '; it has no GGUF files'));
    }
    out = await fetcher.ensure(parsed.file);
  } else {
    const plan = planHfFiles(parsed.repo, revision, new Set(info.siblings.keys()));
    for (const f of plan.files) await fetcher.ensure(f);
    if (plan.index) {
      for (const shard of shardsFromIndex(parsed.repo, snapshotPath(repoDir, info.commit, plan.index))) {
        if (!info.siblings.has(shard)) {
          throw new HubError('ERR_HUB_BAD_INDEX', `${plan.index} of ${parsed.repo} names ${shard}, which is not in the repo`);
        }
        await fetcher.ensure(shard);
      }
    }
    out = snapshotPath(repoDir, info.commit);
  }
  await writeRef(repoDir, revision, info.commit);
  return result(info.commit, out);
}

/** Brings one file of one commit into the cache: snapshot link, blob, or a download. */
class FileFetcher {
  constructor(
    private readonly http: HubHttp,
    private readonly repoDir: string,
    private readonly repo: string,
    private readonly commit: string,
    private readonly siblings: Map<string, Sibling>,
    private readonly options: ResolveOptions,
    private readonly logger: HubLogger,
  ) {}

  async ensure(file: string): Promise<string> {
    const link = snapshotPath(this.repoDir, this.commit, file);
    const sibling = this.siblings.get(file);
    if (snapshotHas(this.repoDir, this.commit, file)) {
      if (!this.options.verify || (await matchesHub(link, sibling))) return link;
      this.logger.warn(`${file} of ${this.repo} in the cache does not match the hub's checksum; downloading it again`);
      await fsp.rm(fs.realpathSync(link), { force: true });
      await fsp.rm(link, { force: true });
    }
    const meta = await fileMetadata(this.http, this.repo, this.commit, file);
    const lfs = sibling?.lfs;
    const sha256 = lfs?.sha256 ?? (/^[0-9a-f]{64}$/.test(meta.etag) ? meta.etag : undefined);
    const gitOid = !lfs && !sha256 && sibling?.blobId && COMMIT_RE.test(sibling.blobId) ? sibling.blobId : undefined;
    const size = lfs?.size ?? meta.size ?? sibling?.size;
    const blob = blobPath(this.repoDir, meta.etag);
    const lock = lockPath(path.dirname(this.repoDir), path.basename(this.repoDir), meta.etag);
    // the blob and the link to it are made under one lock: no reader sees a link to a blob that
    // another process is still replacing
    return withLock(lock, `${file} of ${this.repo}`, this.logger, this.http.signal, async () => {
      // checked under the lock: another process may have just finished this blob
      let have = false;
      try {
        const st = fs.statSync(blob);
        have = st.isFile() && (size === undefined || st.size === size) &&
          (!this.options.verify || (await matchesHub(blob, sibling, meta.etag)));
      } catch {
        have = false;
      }
      if (!have) {
        await downloadBlob(this.http, {
          repo: this.repo, revision: this.commit, file, url: meta.url, dest: blob, size, sha256, gitOid,
          retries: this.options.retries ?? 3, progress: this.options.progress ?? 'auto', logger: this.logger,
        });
      }
      return linkSnapshotFile(this.repoDir, this.commit, file, meta.etag);
    });
  }
}
