// Turns the hub's HTTP answers into HubErrors that say what to do. The hub marks its errors with
// X-Error-Code (RepositoryNotFound, RevisionNotFound, EntryNotFound, GatedRepo); it answers 401,
// not 404, for a repo it will not show an anonymous caller, so 401 is read together with that code.
import { HubError, redact } from './errors.js';
import type { TokenSource } from './token.js';

export interface RequestContext {
  endpoint: string;
  repo: string;
  revision?: string;
  file?: string;
  token: string | undefined;
  tokenSource: TokenSource['source'];
}

const LOGIN_HELP = 'set HF_TOKEN=hf_... (a token from https://huggingface.co/settings/tokens) or run `huggingface-cli login`';

function tokenName(ctx: RequestContext): string {
  switch (ctx.tokenSource) {
    case 'option': return 'the HF token given';
    case 'token file': return 'the HF token in the huggingface-cli login file';
    default: return `the HF token in ${ctx.tokenSource}`;
  }
}

/** The hub's own words, for the end of a message: short, single-line, token removed. */
async function serverDetail(res: Response, token: string | undefined): Promise<string> {
  let text = res.headers.get('x-error-message') ?? '';
  if (!text) {
    try {
      const body = await res.text();
      try {
        const j = JSON.parse(body) as { error?: unknown; message?: unknown };
        text = String(j.error ?? j.message ?? '');
      } catch {
        text = body;
      }
    } catch {
      text = '';
    }
  }
  text = redact(text.replace(/\s+/g, ' ').trim(), token);
  if (text.length > 200) text = text.slice(0, 200) + '…';
  return text ? ` (hub said: ${text})` : '';
}

export async function httpError(res: Response, ctx: RequestContext): Promise<HubError> {
  const code = res.headers.get('x-error-code') ?? '';
  const detail = await serverDetail(res, ctx.token);
  const page = `${ctx.endpoint}/${ctx.repo}`;
  const rev = ctx.revision ?? 'main';
  const what = ctx.file ? `${ctx.file} of ${ctx.repo}` : ctx.repo;
  if (code === 'RepositoryNotFound' || (res.status === 404 && !ctx.file && code !== 'RevisionNotFound')) {
    return new HubError('ERR_HUB_REPO_NOT_FOUND',
      `model ${ctx.repo} was not found on ${ctx.endpoint}: check the id` +
        (ctx.token ? ` (and that ${tokenName(ctx)} can read it if it is private)` : `; if it is private, ${LOGIN_HELP}`) + detail);
  }
  if (code === 'RevisionNotFound') {
    return new HubError('ERR_HUB_REVISION_NOT_FOUND',
      `revision '${rev}' was not found in ${ctx.repo}: name an existing branch, tag or commit (see ${page}/tree/main)` + detail);
  }
  if (code === 'EntryNotFound' || res.status === 404) {
    return new HubError('ERR_HUB_FILE_NOT_FOUND', `${ctx.file ?? '?'} was not found in ${ctx.repo} at revision '${rev}'` + detail);
  }
  if (res.status === 401) {
    if (!ctx.token) {
      return new HubError('ERR_HUB_UNAUTHORIZED',
        `${what} needs an HF token${code === 'GatedRepo' ? ` (the repo is gated: accept its licence at ${page} first)` : ''}: ${LOGIN_HELP}` + detail);
    }
    return new HubError('ERR_HUB_UNAUTHORIZED',
      `${tokenName(ctx)} was rejected as invalid or expired while fetching ${what}: make a new one at ` +
        `https://huggingface.co/settings/tokens, then set HF_TOKEN or run \`huggingface-cli login\`` + detail);
  }
  if (res.status === 403) {
    return new HubError('ERR_HUB_GATED',
      `access to ${ctx.repo} is restricted and ${tokenName(ctx)} is not allowed to download it: accept the licence at ${page} ` +
        `while logged in as the token's owner (access may take a moment to be granted); a fine-grained token also needs ` +
        `"Read access to contents of all public gated repos you can access"` + detail);
  }
  if (res.status === 429) {
    return new HubError('ERR_HUB_RATE_LIMITED', `${ctx.endpoint} is rate-limiting requests for ${what}: wait a minute and try again, or log in (${LOGIN_HELP})` + detail);
  }
  return new HubError('ERR_HUB_HTTP', `${ctx.endpoint} answered HTTP ${res.status} for ${what}: try again later` + detail);
}
