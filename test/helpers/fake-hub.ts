// A local HTTP server that answers as huggingface.co does for the calls huggingface_hub and
// @huggingface/hub make to download a model:
//   GET  /api/models/{org}/{name}[/revision/{rev}][?blobs=true]   model info: sha, gated, siblings
//   HEAD|GET /{org}/{name}/resolve/{rev}/{file}                     regular files: 200 with ETag (git blob id),
//        X-Repo-Commit (after a relative 307 to /api/resolve-cache/..., as the hub now does);
//        LFS files: 302 to the CDN with X-Linked-Etag (sha256), X-Linked-Size, X-Repo-Commit
//   GET  {cdn}/repos/{sha256}                                       the CDN (another origin): Range, 206, 416
// with the hub's errors: 401 + X-Error-Code RepositoryNotFound for a private repo, 401 / 403 +
// GatedRepo for a gated one, 404 RevisionNotFound / EntryNotFound, 401 for an unknown token.
// Knobs for failures: drop a connection mid-file, serve corrupt bytes.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  content: Buffer;
  /** Stored with Git LFS (served from the CDN, sha256-addressed). */
  lfs?: boolean;
}

export interface FakeRepo {
  id: string;
  /** 'manual' as Google's repos: model info is public, files need a token that was granted access. */
  gated?: false | 'manual' | 'auto';
  private?: boolean;
  /** Tokens that may read it (gated or private). */
  allowed?: string[];
  /** commit hash -> files */
  commits: Record<string, Record<string, FakeFile>>;
  /** branch or tag -> commit hash */
  refs: Record<string, string>;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range?: string;
  authorization: boolean;
}

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
export const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export function lfsPointer(content: Buffer): Buffer {
  return Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(content)}\nsize ${content.length}\n`);
}

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  readonly requests: LoggedRequest[] = [];
  /** Tokens the hub knows (any other hf_... token is rejected with 401). */
  readonly validTokens = new Set<string>();
  /** sha256 -> how many more CDN answers to cut after `afterBytes` bytes. */
  readonly drops = new Map<string, { afterBytes: number; times: number }>();
  /** sha256s (LFS) or git blob ids (regular files) whose bytes are served with one byte flipped (same size). */
  readonly corrupt = new Set<string>();
  url = '';
  cdnUrl = '';
  private hub = http.createServer((req, res) => this.handleHub(req, res));
  private cdn = http.createServer((req, res) => this.handleCdn(req, res));

  addRepo(repo: FakeRepo): this {
    this.repos.set(repo.id, repo);
    return this;
  }

  async start(): Promise<this> {
    const listen = (s: http.Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
    this.url = `http://127.0.0.1:${await listen(this.hub)}`;
    this.cdnUrl = `http://127.0.0.1:${await listen(this.cdn)}`;
    return this;
  }

  async close(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  }

  /** Requests for one file name (resolve URLs) or one blob (CDN URLs). */
  requestsFor(fileOrSha: string): LoggedRequest[] {
    return this.requests.filter((r) => r.path.includes(`/${encodeURIComponent(fileOrSha)}`) || r.path.endsWith(`/${fileOrSha}`) ||
      r.path.includes(`/${fileOrSha}?`));
  }

  private log(server: 'hub' | 'cdn', req: http.IncomingMessage): void {
    this.requests.push({
      server, method: req.method!, path: req.url!, range: req.headers.range, authorization: !!req.headers.authorization,
    });
  }

  private token(req: http.IncomingMessage): string | undefined {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return m?.[1];
  }

  private error(res: http.ServerResponse, status: number, code: string | undefined, message: string, headerMessage = true): void {
    res.statusCode = status;
    if (code) res.setHeader('X-Error-Code', code);
    if (headerMessage) res.setHeader('X-Error-Message', message);
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ error: message }));
  }

  /** null when allowed; otherwise the answer has been sent. */
  private denied(req: http.IncomingMessage, res: http.ServerResponse, repo: FakeRepo | undefined, files: boolean): boolean {
    const token = this.token(req);
    if (token !== undefined && !this.validTokens.has(token)) {
      // echoes the token back, as a careless proxy might: the client must not repeat it
      // only in the body (no X-Error-Message): the client reads it from there
      this.error(res, 401, undefined, `Invalid credentials in Authorization header (got ${token})`, false);
      return true;
    }
    const ok = token !== undefined && (repo?.allowed ?? []).includes(token);
    if (!repo || (repo.private && !ok)) {
      this.error(res, 401, 'RepositoryNotFound', 'Repository not found');
      return true;
    }
    if (files && repo.gated && !ok) {
      if (token === undefined) {
        this.error(res, 401, 'GatedRepo', `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
      } else {
        // X-Error-Message (what a HEAD gets) quotes the token
        this.error(res, 403, 'GatedRepo', `Access to model ${repo.id} is restricted and you are not in the authorized list (token ${token}). Visit ${this.url}/${repo.id} to ask for access.`);
      }
      return true;
    }
    return false;
  }

  private commitOf(repo: FakeRepo, rev: string): string | undefined {
    if (repo.commits[rev]) return rev;
    return repo.refs[rev];
  }

  private handleHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.log('hub', req);
    const url = new URL(req.url!, this.url);
    const parts = url.pathname.split('/').slice(1);
    if (parts[0] === 'api' && parts[1] === 'models') return this.modelInfo(req, res, url, parts.slice(2));
    if (parts[0] === 'api' && parts[1] === 'resolve-cache' && parts[2] === 'models') {
      // /api/resolve-cache/models/{org}/{name}/{commit}/{file...}
      const repo = this.repos.get(`${parts[3]}/${parts[4]}`);
      if (this.denied(req, res, repo, true)) return;
      return this.serveRegular(req, res, repo!, decodeURIComponent(parts[5]!), parts.slice(6).map(decodeURIComponent).join('/'));
    }
    if (parts[2] === 'resolve') return this.resolve(req, res, `${parts[0]}/${parts[1]}`, decodeURIComponent(parts[3] ?? ''), parts.slice(4).map(decodeURIComponent).join('/'));
    this.error(res, 404, undefined, 'Not Found');
  }

  private modelInfo(req: http.IncomingMessage, res: http.ServerResponse, url: URL, parts: string[]): void {
    const id = `${parts[0]}/${parts[1]}`;
    const repo = this.repos.get(id);
    if (this.denied(req, res, repo, false)) return;
    const rev = parts[2] === 'revision' ? decodeURIComponent(parts.slice(3).join('/')) : 'main';
    const commit = this.commitOf(repo!, rev);
    if (!commit) return this.error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const blobs = url.searchParams.get('blobs') === 'true';
    const siblings = Object.entries(repo!.commits[commit]!).map(([rfilename, f]) => {
      if (!blobs) return { rfilename };
      const pointer = f.lfs ? lfsPointer(f.content) : f.content;
      return {
        rfilename,
        blobId: gitOid(pointer),
        size: f.content.length,
        ...(f.lfs && { lfs: { sha256: sha256(f.content), size: f.content.length, pointerSize: pointer.length } }),
      };
    });
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify({
      _id: createHash('md5').update(id).digest('hex').slice(0, 24),
      id,
      modelId: id,
      author: parts[0],
      sha: commit,
      lastModified: '2025-03-12T09:00:00.000Z',
      private: !!repo!.private,
      disabled: false,
      gated: repo!.gated ?? false,
      downloads: 0,
      likes: 0,
      library_name: 'transformers',
      tags: ['transformers', 'safetensors', 'gemma3_text', 'text-generation'],
      pipeline_tag: 'text-generation',
      createdAt: '2025-03-01T00:00:00.000Z',
      siblings,
      spaces: [],
      usedStorage: siblings.reduce((n, s) => n + ((s as { size?: number }).size ?? 0), 0),
    }));
  }

  private resolve(req: http.IncomingMessage, res: http.ServerResponse, id: string, rev: string, file: string): void {
    const repo = this.repos.get(id);
    if (this.denied(req, res, repo, true)) return;
    const commit = this.commitOf(repo!, rev);
    if (!commit) return this.error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const f = repo!.commits[commit]![file];
    if (!f) return this.error(res, 404, 'EntryNotFound', `${file} does not exist on "${rev}"`);
    res.setHeader('X-Repo-Commit', commit);
    if (f.lfs) {
      const pointer = lfsPointer(f.content);
      res.statusCode = 302;
      res.setHeader('ETag', `"${gitOid(pointer)}"`);
      res.setHeader('X-Linked-Etag', `"${sha256(f.content)}"`);
      res.setHeader('X-Linked-Size', String(f.content.length));
      res.setHeader('Location', `${this.cdnUrl}/repos/${sha256(f.content)}?response-content-disposition=attachment&Expires=9999999999&Signature=x`);
      res.end(`Found. Redirecting to ${this.cdnUrl}/repos/${sha256(f.content)}`);
      return;
    }
    // regular files: the hub redirects (relative) to its resolve cache, which serves them
    res.statusCode = 307;
    res.setHeader('Location', `/api/resolve-cache/models/${id}/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`);
    res.end();
  }

  private serveRegular(req: http.IncomingMessage, res: http.ServerResponse, repo: FakeRepo, commit: string, file: string): void {
    const f = repo.commits[commit]?.[file];
    if (!f || f.lfs) return this.error(res, 404, 'EntryNotFound', `${file} does not exist`);
    res.setHeader('X-Repo-Commit', commit);
    res.setHeader('ETag', `"${gitOid(f.content)}"`);
    let content = f.content;
    if (this.corrupt.has(gitOid(content))) {
      content = Buffer.from(content);
      content[0] ^= 0x20;
    }
    this.sendBytes(req, res, content, undefined);
  }

  private handleCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.log('cdn', req);
    const url = new URL(req.url!, this.cdnUrl);
    const sha = url.pathname.split('/')[2] ?? '';
    let content: Buffer | undefined;
    for (const repo of this.repos.values()) {
      for (const files of Object.values(repo.commits)) {
        for (const f of Object.values(files)) if (f.lfs && sha256(f.content) === sha) content = f.content;
      }
    }
    if (!content) {
      res.statusCode = 404;
      res.end('NoSuchKey');
      return;
    }
    if (this.corrupt.has(sha)) {
      content = Buffer.from(content);
      content[content.length >> 1] ^= 0xff;
    }
    res.setHeader('ETag', `"${createHash('md5').update(content).digest('hex')}"`);
    this.sendBytes(req, res, content, sha);
  }

  private sendBytes(req: http.IncomingMessage, res: http.ServerResponse, content: Buffer, sha: string | undefined): void {
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Type', 'application/octet-stream');
    let start = 0;
    let end = content.length - 1;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), content.length - 1) : content.length - 1;
      if (start >= content.length) {
        res.statusCode = 416;
        res.setHeader('Content-Range', `bytes */${content.length}`);
        res.end();
        return;
      }
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${content.length}`);
    }
    const body = content.subarray(start, end + 1);
    res.setHeader('Content-Length', String(body.length));
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const drop = sha ? this.drops.get(sha) : undefined;
    if (drop && drop.times > 0 && body.length > drop.afterBytes) {
      drop.times--;
      // headers and part of the body go out, then the connection dies mid-file
      res.flushHeaders();
      res.write(body.subarray(0, drop.afterBytes), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  }
}

/** A minimal valid safetensors file: one F32 tensor of `n` values. */
export function safetensorsFile(name: string, n: number, seed: number): Buffer {
  const data = Buffer.alloc(n * 4);
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data.writeFloatLE((x / 2 ** 32) - 0.5, i * 4);
  }
  let header = JSON.stringify({ __metadata__: { format: 'pt' }, [name]: { dtype: 'F32', shape: [n], data_offsets: [0, data.length] } });
  header += ' '.repeat((8 - (header.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, Buffer.from(header), data]);
}
