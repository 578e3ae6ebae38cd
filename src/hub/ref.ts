// What a user may name as a model: an HF repo id (with an optional @revision), a GGUF file inside
// an HF repo, a local HF directory or a local .gguf file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { HubError } from './errors.js';

export type ModelRef =
  /** A repo on the hub; `file` is set for a GGUF inside it (`org/repo:file.gguf`). */
  | { kind: 'hub'; repo: string; revision?: string; file?: string }
  | { kind: 'local-gguf'; path: string }
  | { kind: 'local-dir'; path: string };

// huggingface_hub's validate_repo_id, with the namespace required: every Gemma repo has one, and a
// bare word is more likely a mistyped local file than a legacy namespace-less repo.
const REPO_ID = /^[\w.-]+\/[\w.-]+$/;

function bad(ref: string, why: string): HubError {
  return new HubError(
    'ERR_BAD_MODEL_REF',
    `'${ref}' is not a model reference: ${why}. Use an HF id (google/gemma-3-1b-it, optionally @revision), ` +
      `org/repo:file.gguf, a local directory with config.json, or a local .gguf file`,
  );
}

export function isValidRepoId(id: string): boolean {
  return id.length <= 96 && REPO_ID.test(id) && !id.includes('--') && !id.includes('..') &&
    !/^[.-]|[.-]$/.test(id.split('/')[0]!) && !/^[.-]|[.-]$/.test(id.split('/')[1]!);
}

/** A revision is a branch, tag or commit; it becomes a path under refs/, so it may not climb out. */
export function isValidRevision(rev: string): boolean {
  return rev.length > 0 && rev.length <= 256 && !/[\s\\]/.test(rev) && !rev.startsWith('/') && !rev.endsWith('/') &&
    !rev.split('/').some((seg) => seg === '' || seg === '.' || seg === '..');
}

/** A file path inside a repo: relative, no '..', the way the hub lists it. */
export function isSafeRepoPath(p: string): boolean {
  return p.length > 0 && !p.startsWith('/') && !p.includes('\\') && !p.split('/').some((seg) => seg === '' || seg === '.' || seg === '..');
}

function looksLikePath(ref: string): boolean {
  return ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../') || ref === '.' || ref === '..' ||
    ref.startsWith('~') || ref.includes('\\') || /^[A-Za-z]:[\\/]/.test(ref);
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/**
 * Parses a model reference. A path that exists wins over an HF id of the same spelling (as
 * transformers does); a path-like reference that does not exist is still returned as a local
 * .gguf so that opening it reports the missing file.
 */
export function parseModelRef(ref: string): ModelRef {
  const s = ref.trim();
  if (!s) throw bad(ref, 'it is empty');
  const local = path.resolve(expandHome(s));
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(local);
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) return { kind: 'local-dir', path: local };
  if (st) return { kind: 'local-gguf', path: local };
  if (looksLikePath(s) || (!s.includes(':') && /\.gguf$/i.test(s))) {
    if (/\.gguf$/i.test(s)) return { kind: 'local-gguf', path: local };
    throw new HubError('ERR_MODEL_NOT_FOUND', `${local}: no such file or directory`);
  }

  const colon = s.indexOf(':');
  const left = colon < 0 ? s : s.slice(0, colon);
  let right = colon < 0 ? undefined : s.slice(colon + 1);
  const at = left.indexOf('@');
  const repo = at < 0 ? left : left.slice(0, at);
  let revision = at < 0 ? undefined : left.slice(at + 1);
  if (right !== undefined) {
    const rat = right.lastIndexOf('@');
    if (rat >= 0) {
      const r = right.slice(rat + 1);
      if (revision !== undefined && revision !== r) throw bad(ref, `two different revisions ('${revision}' and '${r}')`);
      revision = r;
      right = right.slice(0, rat);
    }
  }
  if (!isValidRepoId(repo)) {
    throw bad(ref, `'${repo}' is neither an existing file or directory nor an HF repo id (org/name)`);
  }
  if (revision !== undefined && !isValidRevision(revision)) throw bad(ref, `'${revision}' is not a valid revision`);
  if (right !== undefined) {
    if (!isSafeRepoPath(right)) throw bad(ref, `'${right}' is not a file path inside the repo`);
    if (!/\.gguf$/i.test(right)) throw bad(ref, `only .gguf files can be named inside a repo, not '${right}'`);
    return { kind: 'hub', repo, ...(revision !== undefined && { revision }), file: right };
  }
  return { kind: 'hub', repo, ...(revision !== undefined && { revision }) };
}

/** The canonical spelling of a reference, for messages and listings. */
export function formatModelRef(ref: ModelRef): string {
  if (ref.kind !== 'hub') return ref.path;
  return ref.repo + (ref.file ? ':' + ref.file : '') + (ref.revision ? '@' + ref.revision : '');
}
