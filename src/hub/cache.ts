// huggingface_hub's cache layout, read and written exactly as the Python library does:
//   <cache>/models--<org>--<name>/blobs/<etag>              the bytes (etag: sha256 for LFS files, git oid otherwise)
//   <cache>/models--<org>--<name>/blobs/<etag>.incomplete   a download in progress (resumable)
//   <cache>/models--<org>--<name>/snapshots/<commit>/<file> relative symlink to ../../blobs/<etag>
//   <cache>/models--<org>--<name>/refs/<revision>           the commit a branch or tag pointed to
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

export const COMMIT_RE = /^[0-9a-f]{40}$/;

export function repoFolderName(repo: string): string {
  return ['models', ...repo.split('/')].join('--');
}

export function repoCacheDir(cacheDir: string, repo: string): string {
  return path.join(cacheDir, repoFolderName(repo));
}

export function blobPath(repoDir: string, etag: string): string {
  return path.join(repoDir, 'blobs', etag);
}

export function snapshotPath(repoDir: string, commit: string, file?: string): string {
  return file ? path.join(repoDir, 'snapshots', commit, ...file.split('/')) : path.join(repoDir, 'snapshots', commit);
}

/** The commit a revision names in the cache: a commit hash with a snapshot, or what refs/<revision> holds. */
export function readRef(repoDir: string, revision: string): string | undefined {
  if (COMMIT_RE.test(revision)) return fs.existsSync(snapshotPath(repoDir, revision)) ? revision : undefined;
  try {
    const commit = fs.readFileSync(path.join(repoDir, 'refs', ...revision.split('/')), 'utf8').trim();
    return COMMIT_RE.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/** Records that `revision` points at `commit` (huggingface_hub writes the bare hash, no newline). */
export async function writeRef(repoDir: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const file = path.join(repoDir, 'refs', ...revision.split('/'));
  try {
    if ((await fsp.readFile(file, 'utf8')) === commit) return;
  } catch {
    // not there yet
  }
  await fsp.mkdir(path.dirname(file), { recursive: true });
  // write-then-rename: a reader never sees a half-written hash
  const tmp = `${file}.${crypto.randomUUID()}.tmp`; // unique across hosts and containers (PIDs are not)
  await fsp.writeFile(tmp, commit);
  await fsp.rename(tmp, file);
}

/** Puts snapshots/<commit>/<file> in place as a relative symlink to the blob, replacing what was there. */
export async function linkSnapshotFile(repoDir: string, commit: string, file: string, etag: string): Promise<string> {
  const dst = snapshotPath(repoDir, commit, file);
  await fsp.mkdir(path.dirname(dst), { recursive: true });
  const target = path.relative(path.dirname(dst), blobPath(repoDir, etag));
  const tmp = `${dst}.${crypto.randomUUID()}.tmp`;
  await fsp.rm(tmp, { force: true });
  await fsp.symlink(target, tmp);
  await fsp.rename(tmp, dst);
  return dst;
}

/** Whether a snapshot file exists and its blob is there (a dangling link does not count). */
export function snapshotHas(repoDir: string, commit: string, file: string): boolean {
  try {
    return fs.statSync(snapshotPath(repoDir, commit, file)).isFile();
  } catch {
    return false;
  }
}

export interface CachedRevision {
  commit: string;
  /** Branches and tags (refs/...) that point at it. */
  refs: string[];
  files: string[];
  /** Bytes of the files it links to. */
  size: number;
}

function listRefs(repoDir: string): Map<string, string[]> {
  const byCommit = new Map<string, string[]>();
  const walk = (dir: string, prefix: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const name = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), name);
      else if (e.isFile()) {
        const commit = fs.readFileSync(path.join(dir, e.name), 'utf8').trim();
        byCommit.set(commit, [...(byCommit.get(commit) ?? []), name]);
      }
    }
  };
  walk(path.join(repoDir, 'refs'), '');
  return byCommit;
}

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const name = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(path.join(dir, e.name), name));
    else out.push(name);
  }
  return out.sort();
}

/** The snapshots of a repo in the cache, newest first, with the refs pointing at each. */
export function cachedRevisions(repoDir: string): CachedRevision[] {
  let commits: string[];
  try {
    commits = fs.readdirSync(path.join(repoDir, 'snapshots')).filter((d) => COMMIT_RE.test(d));
  } catch {
    return [];
  }
  const refs = listRefs(repoDir);
  const mtime = (c: string) => fs.statSync(snapshotPath(repoDir, c)).mtimeMs;
  return commits
    .sort((a, b) => mtime(b) - mtime(a))
    .map((commit) => {
      const files = listFiles(snapshotPath(repoDir, commit));
      const size = files.reduce((n, f) => {
        try {
          return n + fs.statSync(snapshotPath(repoDir, commit, f)).size;
        } catch {
          return n; // a dangling link: its blob was removed
        }
      }, 0);
      return { commit, refs: (refs.get(commit) ?? []).sort(), files, size };
    });
}

export interface CachedModel {
  repo: string;
  path: string;
  /** Bytes of complete blobs (what `huggingface-cli scan-cache` counts). */
  size: number;
  revisions: CachedRevision[];
}

/**
 * The model repos in a hub cache. Written here rather than with @huggingface/hub's scanCacheDir,
 * which rejects a repo without a refs/ folder (one fetched only by commit hash, which Python
 * caches that way).
 */
export function listCachedModels(cacheDir: string): CachedModel[] {
  let dirs: string[];
  try {
    dirs = fs.readdirSync(cacheDir).filter((d) => d.startsWith('models--'));
  } catch {
    return [];
  }
  const out: CachedModel[] = [];
  for (const d of dirs.sort()) {
    const repoDir = path.join(cacheDir, d);
    if (!fs.statSync(repoDir).isDirectory()) continue;
    let size = 0;
    try {
      for (const b of fs.readdirSync(path.join(repoDir, 'blobs'))) {
        if (!b.endsWith('.incomplete')) size += fs.statSync(path.join(repoDir, 'blobs', b)).size;
      }
    } catch {
      // no blobs yet
    }
    out.push({ repo: d.slice('models--'.length).split('--').join('/'), path: repoDir, size, revisions: cachedRevisions(repoDir) });
  }
  return out;
}
