// The HF token, looked up where huggingface_hub looks: HF_TOKEN, then HUGGING_FACE_HUB_TOKEN,
// then the file `huggingface-cli login` writes ($HF_TOKEN_PATH, default $HF_HOME/token).
import fs from 'node:fs';
import path from 'node:path';

import { hfHome } from './paths.js';

export interface TokenSource {
  token: string | undefined;
  /** Where it came from, for messages (never the token itself). */
  source: 'option' | 'HF_TOKEN' | 'HUGGING_FACE_HUB_TOKEN' | 'token file' | 'none';
  file?: string;
}

export function tokenFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_TOKEN_PATH || path.join(hfHome(env), 'token');
}

export function resolveToken(explicit?: string, env: NodeJS.ProcessEnv = process.env): TokenSource {
  if (explicit?.trim()) return { token: explicit.trim(), source: 'option' };
  // huggingface_hub treats an empty variable as unset
  if (env.HF_TOKEN?.trim()) return { token: env.HF_TOKEN.trim(), source: 'HF_TOKEN' };
  if (env.HUGGING_FACE_HUB_TOKEN?.trim()) return { token: env.HUGGING_FACE_HUB_TOKEN.trim(), source: 'HUGGING_FACE_HUB_TOKEN' };
  const file = tokenFilePath(env);
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    if (t) return { token: t, source: 'token file', file };
  } catch {
    // no login: anonymous access, which is fine for public repos
  }
  return { token: undefined, source: 'none' };
}
