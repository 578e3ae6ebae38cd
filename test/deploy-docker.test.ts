// The container deployment (Dockerfile, .dockerignore, docker-compose.yml) checked without
// a Docker engine: the files are parsed as Docker and Compose read them, every service's command
// goes through the real `serve` parser with the environment the container would have, the image's
// healthcheck command is run against a stub server, and each check is shown to catch a broken
// copy of the file it reads.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { DockerfileParser, type Instruction, type JSONInstruction, type ModifiableInstruction } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

import { parseServeConfig, type ServeConfig } from '../src/cli/serve.js';
import { embeddingCatalogEntry } from '../src/hub/embedding-catalog.js';
import { parseModelRef } from '../src/hub/ref.js';
import { resolveToken, tokenFilePath } from '../src/hub/token.js';
import { root } from './helpers/models.js';

const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');
const dockerfileText = read('Dockerfile');
const composeText = read('docker-compose.yml');
const dockerignoreText = read('.dockerignore');
const pkg = JSON.parse(read('package.json')) as {
  main: string; bin: Record<string, string>; scripts: Record<string, string>;
  dependencies: Record<string, string>; devDependencies: Record<string, string>;
};

// ---------------------------------------------------------------------------------------------
// Dockerfile model: stages, their instructions, the shell commands of their RUNs

interface Stage {
  name: string | null;
  image: string;
  tag: string | null;
  digest: string | null;
  instructions: Instruction[];
}

function stagesOf(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const ins of DockerfileParser.parse(text).getInstructions()) {
    if (ins.getKeyword() === 'FROM') {
      const from = ins as unknown as import('dockerfile-ast').From;
      stages.push({ name: from.getBuildStage(), image: from.getImage() ?? '', tag: from.getImageTag(), digest: from.getImageDigest(), instructions: [] });
    } else if (stages.length) {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return stages;
}

const byKeyword = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const line = (i: Instruction) => i.getRange().start.line;

/** An exec-form instruction's argv (JSON array), else its words. */
function words(ins: Instruction): string[] {
  const json = (ins as JSONInstruction).getJSONStrings?.();
  if (json?.length) return json.map((s) => s.getJSONValue());
  return ins.getArguments().map((a) => a.getValue());
}

/** A RUN's shell commands, split at && || ; (enough for the plain commands a Dockerfile runs). */
function shellCommands(run: Instruction): string[][] {
  const out: string[][] = [[]];
  for (const w of run.getArguments().map((a) => a.getValue())) {
    if (w === '&&' || w === '||' || w === ';') out.push([]);
    else if (w.endsWith(';')) {
      out.at(-1)!.push(w.slice(0, -1));
      out.push([]);
    } else {
      out.at(-1)!.push(w);
    }
  }
  return out.filter((c) => c.length);
}

function aptInstalls(stage: Stage): string[] {
  return byKeyword(stage, 'RUN').flatMap(shellCommands)
    .filter((c) => (c[0] === 'apt-get' || c[0] === 'apt') && c.includes('install'))
    .flatMap((c) => c.slice(c.indexOf('install') + 1).filter((w) => !w.startsWith('-')));
}

/** ENV (or ARG) name=value pairs of a stage, in order. */
function properties(stage: Stage, keyword: 'ENV' | 'ARG'): { name: string; value: string | null }[] {
  return byKeyword(stage, keyword).flatMap((i) =>
    (i as unknown as import('dockerfile-ast').Env).getProperties().map((p) => ({ name: p.getName(), value: p.getValue() })));
}

const envOf = (stage: Stage): Record<string, string> => Object.fromEntries(properties(stage, 'ENV').map((p) => [p.name, p.value ?? '']));

/** WORKDIR in effect at a line of a stage (absolute; the node image's default is /). */
function workdirAt(stage: Stage, at: number): string {
  let wd = '/';
  for (const w of byKeyword(stage, 'WORKDIR')) if (line(w) < at) wd = path.posix.resolve(wd, words(w)[0]!);
  return wd;
}

interface CopyOp {
  from: string | null;
  sources: string[];
  /** absolute destination in the stage */
  dest: string;
  line: number;
}

function copies(stage: Stage): CopyOp[] {
  return byKeyword(stage, 'COPY').map((c) => {
    const flags = (c as ModifiableInstruction).getFlags();
    const args = words(c);
    return {
      from: flags.find((f) => f.getName() === 'from')?.getValue() ?? null,
      sources: args.slice(0, -1),
      dest: path.posix.resolve(workdirAt(stage, line(c)), args.at(-1)!) + (args.at(-1)!.endsWith('/') ? '/' : ''),
      line: line(c),
    };
  });
}

/** Where a COPY puts one source: a directory's contents at dest, a file at dest or dest/name. */
function copyTarget(source: string, op: CopyOp): string {
  const isDir = source.endsWith('/');
  if (isDir || !op.dest.endsWith('/')) return op.dest.replace(/\/$/, '');
  return path.posix.join(op.dest, path.posix.basename(source));
}

const under = (p: string, dir: string) => p === dir || p.startsWith(dir.replace(/\/$/, '') + '/');

// ---------------------------------------------------------------------------------------------
// .dockerignore as Docker reads it: patterns from the context root, ** for any depth, a matched
// directory excludes what is under it, the last matching line wins (! re-includes)

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else {
        re += '.*';
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function dockerignore(text: string): (p: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pat = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
    return { negate, re: globToRegExp(pat) };
  });
  return (p: string) => {
    const parts = p.replace(/\/+$/, '').split('/');
    let excluded = false;
    for (const r of rules) {
      for (let n = 1; n <= parts.length; n++) {
        if (r.re.test(parts.slice(0, n).join('/'))) {
          excluded = !r.negate;
          break;
        }
      }
    }
    return excluded;
  };
}

function filesUnder(rel: string): string[] {
  const full = path.join(root, rel);
  if (!fs.statSync(full).isDirectory()) return [rel];
  return fs.readdirSync(full, { withFileTypes: true }).flatMap((e) => filesUnder(path.posix.join(rel, e.name)));
}

// ---------------------------------------------------------------------------------------------
// What the builder's commands produce, each read from the file that decides it, so a change there
// (another outDir, another prebuild folder) shows up here

function producedBy(command: string[], workdir: string): string[] {
  if (command[0] !== 'npm') return [];
  if (command[1] === 'ci' || command[1] === 'install') return [path.posix.join(workdir, 'node_modules')];
  if (command[1] !== 'run') return [];
  const script = command[2]!;
  if (script === 'build:ts') {
    const outDir = (JSON.parse(read('tsconfig.json')) as { compilerOptions: { outDir: string } }).compilerOptions.outDir;
    return [path.posix.join(workdir, outDir)];
  }
  if (script === 'build:webui') {
    const m = /outDir:\s*fileURLToPath\(new URL\('\.\.\/([^']+)'/.exec(read('webui/vite.config.js'));
    return m ? [path.posix.join(workdir, m[1]!)] : [];
  }
  if (script === 'prebuild') {
    const m = /path\.join\(root, 'prebuilds', `\$\{process\.platform\}-\$\{process\.arch\}`\)/.exec(read('scripts/prebuild.mjs'));
    return m ? [path.posix.join(workdir, 'prebuilds')] : [];
  }
  return [];
}

// ---------------------------------------------------------------------------------------------
// The checks: each returns its problems (none for the files as they are)

const COMPILERS = /^(gcc|g\+\+|cpp|clang|clang\+\+|cmake|make|ninja-build|build-essential|libc6-dev|binutils)(-\d+)?$/;
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|CREDENTIAL/i;

function dockerfileProblems(text: string): Record<string, string[]> {
  const stages = stagesOf(text);
  const final = stages.at(-1)!;
  const builder = stages.find((s) => s.name === 'builder') ?? stages[0]!;
  const env = envOf(final);
  const p: Record<string, string[]> = {};
  const add = (check: string, problem: string | false) => {
    p[check] ??= [];
    if (problem) p[check]!.push(problem);
  };

  // every base image an exact release (x.y.z) or a digest, never latest or a bare major
  add('stages', stages.length < 2 && `${stages.length} stage(s): the image must be built in a builder stage and run from another`);
  for (const s of stages) {
    if (stages.some((o) => o.name === s.image)) continue; // FROM an earlier stage
    if (!s.digest && !/^\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/.test(s.tag ?? '')) add('pinned', `FROM ${s.image}: not pinned to an exact version`);
  }
  add('stages', builder === final && 'no builder stage before the final one');
  add('stages', builder.image !== final.image && `the builder (${builder.image}) and the runtime (${final.image}) use different bases (the addon must meet the glibc and Node it was built for)`);

  // the builder: compilers, scripts-free install, the portable prebuild, builds before the prune
  const apt = aptInstalls(builder);
  for (const tool of ['cmake', 'g++', 'make', 'git']) add('builder', !apt.includes(tool) && `the builder does not install ${tool}`);
  const cmds = byKeyword(builder, 'RUN').flatMap(shellCommands).map((c) => c.join(' '));
  const at = (re: RegExp) => cmds.findIndex((c) => re.test(c));
  const ci = at(/^npm ci\b/);
  add('builder', ci < 0 && 'no npm ci in the builder');
  add('builder', ci >= 0 && !/--ignore-scripts/.test(cmds[ci]!) && 'npm ci without --ignore-scripts runs the install hooks (a CPU-tuned build, node-llama-cpp downloads)');
  add('builder', cmds.some((c) => /^npm (install|rebuild|i)\b/.test(c) && !/--ignore-scripts/.test(c)) && 'an npm install/rebuild that runs install scripts');
  const prune = at(/^npm prune\b.*--omit=dev/);
  add('builder', prune < 0 && 'no npm prune --omit=dev: the devDependencies would ship');
  for (const script of ['prebuild', 'build:ts', 'build:webui']) {
    const i = at(new RegExp(`^npm run ${script}$`));
    add('builder', !pkg.scripts[script] && `package.json has no script ${script}`);
    add('builder', i < 0 && `the builder does not run npm run ${script}`);
    add('builder', i >= 0 && (i < ci || (prune >= 0 && i > prune)) && `npm run ${script} must run after npm ci and before npm prune`);
  }
  // portable: prebuild (POTRON_NATIVE_CPU=OFF: every ggml CPU variant), never the -march=native build
  add('portable', cmds.some((c) => /build:native|POTRON_NATIVE_CPU=ON|cmake-js/.test(c)) && 'the builder makes a CPU-tuned addon (build:native / POTRON_NATIVE_CPU=ON)');
  add('portable', !/scripts\/prebuild\.mjs/.test(pkg.scripts.prebuild ?? '') && 'npm run prebuild is not scripts/prebuild.mjs');
  add('portable', !read('scripts/prebuild.mjs').includes("'--CDPOTRON_NATIVE_CPU=OFF'") && 'scripts/prebuild.mjs does not build with POTRON_NATIVE_CPU=OFF');
  add('portable', !/else\(\)[\s\S]*set\(GGML_CPU_ALL_VARIANTS ON/.test(read('CMakeLists.txt')) && 'CMakeLists.txt: the portable build lacks GGML_CPU_ALL_VARIANTS');

  // the runtime: no compiler, and the shared libraries the addon needs
  const finalApt = aptInstalls(final);
  for (const pkgName of finalApt) add('runtime-packages', COMPILERS.test(pkgName) && `the final stage installs ${pkgName}`);
  add('runtime-packages', byKeyword(final, 'RUN').flatMap(shellCommands).some((c) => c[0] === 'npm' && /^(ci|install|i|rebuild)$/.test(c[1] ?? ''))
    && 'the final stage runs npm install (it may build the addon there)');
  add('runtime-packages', /set\(GGML_OPENMP ON/.test(read('CMakeLists.txt')) && !finalApt.includes('libgomp1')
    && 'ggml is built with OpenMP (CMakeLists.txt) but the final stage does not install libgomp1');

  // COPY --from names an earlier stage; what the final stage copies exists in the builder
  const builderHas: string[] = [];
  const builderIndex = stages.indexOf(builder);
  for (const [si, s] of stages.entries()) {
    for (const op of copies(s)) {
      if (op.from === null) continue;
      const stageIndex = stages.findIndex((o) => o.name === op.from);
      add('copy-from', (stageIndex < 0 || stageIndex >= si) && `COPY --from=${op.from}: no earlier stage of that name`);
    }
  }
  for (const op of copies(builder)) {
    for (const src of op.sources) builderHas.push(copyTarget(src, op));
  }
  for (const run of byKeyword(builder, 'RUN')) {
    for (const c of shellCommands(run)) builderHas.push(...producedBy(c, workdirAt(builder, line(run))));
  }
  const finalHas: string[] = [];
  for (const op of copies(final)) {
    for (const src of op.sources) {
      if (op.from === null) add('copy-from', `the final stage copies ${src} from the build context: it should take the builder's output`);
      else if (op.from === builder.name || op.from === String(builderIndex)) {
        add('copy-from', !builderHas.some((b) => under(src.replace(/\/$/, ''), b)) && `COPY --from=${op.from} ${src}: the builder neither copies nor builds it`);
      }
      finalHas.push(copyTarget(src, op));
    }
  }

  // what the server loads at run time is there: package.json (version, node-gyp-build's root),
  // the bin entry, dist (main, the encoder worker, dist/webui), prebuilds/<platform>-<arch>, node_modules
  const entry = byKeyword(final, 'ENTRYPOINT').at(-1);
  const appDir = workdirAt(final, entry ? line(entry) : Infinity);
  const needed = ['package.json', ...Object.values(pkg.bin), pkg.main, 'dist/tokenizer/encoder-worker.js', 'dist/webui/index.html', 'prebuilds/linux-x64/node.napi.node', 'node_modules/node-gyp-build'];
  for (const rel of needed) {
    add('runtime-files', !finalHas.some((f) => under(path.posix.join(appDir, rel), f)) && `the final stage lacks ${appDir}/${rel}`);
  }

  // the process: non-root, listening where EXPOSE says, HF cache on a volume owned by the user
  const user = byKeyword(final, 'USER').at(-1);
  const userName = user ? words(user)[0]!.split(':')[0]! : 'root';
  add('user', ['root', '0'].includes(userName) && `the server runs as ${userName}`);
  const exposed = byKeyword(final, 'EXPOSE').flatMap(words).map((w) => w.replace(/\/tcp$/, ''));
  add('listen', env.PREDICT_OTRON_HOST !== '0.0.0.0' && `PREDICT_OTRON_HOST is ${env.PREDICT_OTRON_HOST}: the server would not be reachable from outside the container`);
  add('listen', !exposed.includes(env.PREDICT_OTRON_PORT ?? '') && `EXPOSE ${exposed.join(' ')} does not match PREDICT_OTRON_PORT ${env.PREDICT_OTRON_PORT}`);
  const volumes = byKeyword(final, 'VOLUME');
  add('hf-cache', !env.HF_HOME && 'no HF_HOME');
  add('hf-cache', !volumes.some((v) => words(v).includes(env.HF_HOME ?? '')) && `HF_HOME ${env.HF_HOME} is not a VOLUME`);
  // a RUN after VOLUME cannot change the volume's contents, so the chown must come first
  const firstVolume = Math.min(...volumes.map(line));
  add('hf-cache', !byKeyword(final, 'RUN').some((r) => line(r) < firstVolume && shellCommands(r).some((c) =>
    c[0] === 'chown' && c.some((w) => w.split(':')[0] === userName) && c.includes(env.HF_HOME ?? '')))
    && `no RUN before the VOLUME gives ${env.HF_HOME} to ${userName}`);

  // the token: read from the secret's mount, never written into the image
  add('secrets', env.HF_TOKEN_PATH !== '/run/secrets/hf_token' && `HF_TOKEN_PATH is ${env.HF_TOKEN_PATH}, not the secret's mount /run/secrets/hf_token`);
  for (const s of stages) {
    for (const kind of ['ENV', 'ARG'] as const) {
      for (const prop of properties(s, kind)) {
        if (SECRET_NAME.test(prop.name) && !/_(PATH|FILE|DIR)$/.test(prop.name) && prop.value) add('secrets', `${kind} ${prop.name} has a value in the image`);
      }
    }
    for (const op of copies(s)) {
      for (const src of op.sources) add('secrets', /(^|\/)(secrets|\.env)(\/|$)|token/i.test(src) && `COPY ${src} puts a secret into a layer`);
    }
  }
  add('secrets', /\bhf_[A-Za-z0-9]{20,}/.test(text) && 'a Hugging Face token is written in the Dockerfile');

  // healthcheck on /health with node (no curl in the slim image), exec form
  const hc = byKeyword(final, 'HEALTHCHECK').at(-1);
  const hcArgv = hc ? healthcheckArgv(hc) : null;
  add('healthcheck', !hcArgv && 'no exec-form HEALTHCHECK CMD in the final stage');
  add('healthcheck', !!hcArgv && hcArgv[0] !== 'node' && `the healthcheck runs ${hcArgv[0]}, which the slim image may not have`);
  add('healthcheck', !!hcArgv && !hcArgv.join(' ').includes('/health') && 'the healthcheck does not ask /health');

  // how it starts and stops
  const entryArgv = entry ? words(entry) : [];
  add('entrypoint', !(entryArgv[0] === 'node' && entryArgv[1] === pkg.bin['predict-otron']) && `ENTRYPOINT ${JSON.stringify(entryArgv)} does not run node ${pkg.bin['predict-otron']}`);
  add('entrypoint', !fs.existsSync(path.join(root, entryArgv[1] ?? '\0')) && `${entryArgv[1]} is not in the repository`);
  const cmd = byKeyword(final, 'CMD').at(-1);
  add('entrypoint', (cmd ? words(cmd)[0] : undefined) !== 'serve' && 'CMD does not default to serve');
  const stop = byKeyword(final, 'STOPSIGNAL').at(-1);
  add('entrypoint', !!stop && words(stop)[0] !== 'SIGTERM' && `STOPSIGNAL ${stop && words(stop)[0]}: serve drains on SIGTERM`);
  add('entrypoint', env.NODE_ENV !== 'production' && 'NODE_ENV is not production');
  return p;
}

/** HEALTHCHECK [flags] CMD ["argv", ...] → argv; null for NONE or the shell form. */
function healthcheckArgv(hc: Instruction): string[] | null {
  const m = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(hc.getRawArgumentsContent() ?? '');
  if (!m) return null;
  try {
    const argv = JSON.parse(m[1]!.replace(/\\\r?\n/g, '')) as unknown;
    return Array.isArray(argv) && argv.every((a) => typeof a === 'string') ? argv : null;
  } catch {
    return null;
  }
}

const stages = stagesOf(dockerfileText);
const imageEnv = envOf(stages.at(-1)!);
const imageEntrypoint = words(byKeyword(stages.at(-1)!, 'ENTRYPOINT').at(-1)!);
const imageHealthcheck = healthcheckArgv(byKeyword(stages.at(-1)!, 'HEALTHCHECK').at(-1)!)!;

// ---------------------------------------------------------------------------------------------
// docker-compose.yml as Compose reads it: merge keys, ${VAR:-default} from .env and the shell,
// profiles from --profile, else COMPOSE_PROFILES

type Shell = Record<string, string | undefined>;

function parseDotenv(text: string): Shell {
  const out: Shell = {};
  for (const l of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(l);
    if (m) out[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

function interpolate(value: unknown, vars: Shell): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
      (all, name: string | undefined, colon: string | undefined, def: string | undefined, bare: string | undefined) => {
        if (all === '$$') return '$';
        const v = vars[(name ?? bare)!];
        if (def !== undefined && (v === undefined || (colon === ':' && v === ''))) return def;
        return v ?? '';
      });
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, vars));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, vars)]));
  return value;
}

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  profiles?: string[];
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | null> | string[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  ports?: (string | number | { target?: number; published?: string | number })[];
  secrets?: (string | { source: string; target?: string })[];
  healthcheck?: { test?: string[] | string; disable?: boolean; interval?: string; timeout?: string; start_period?: string; retries?: number };
  depends_on?: string[] | Record<string, { condition?: string }>;
  stop_grace_period?: string;
  restart?: string;
  privileged?: boolean;
  cap_add?: string[];
  network_mode?: string;
  pid?: string;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file?: string; environment?: string }>;
}

interface Service {
  name: string;
  raw: ComposeService;
  spec: ComposeService;
  env: Record<string, string>;
  argv: string[];
  config: ServeConfig;
}

// Compose reads a .env beside the file; we ship none (it is where users put tokens), so only the shell's variables count
const dotenv = fs.existsSync(path.join(root, '.env')) ? parseDotenv(read('.env')) : {};

function loadCompose(text: string, shell: Shell = {}) {
  const raw = YAML.parse(text, { merge: true }) as ComposeFile;
  // the shell wins over .env (as in Compose)
  const vars = { ...dotenv, ...shell };
  const doc = interpolate(raw, vars) as ComposeFile;
  return { raw, doc, vars };
}

function activeProfiles(flags: string[], vars: Shell): string[] {
  return flags.length ? flags : (vars.COMPOSE_PROFILES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

const asList = (c: string[] | string | undefined) => (c === undefined ? undefined : Array.isArray(c) ? c.map(String) : c.trim().split(/\s+/));

function serviceEnv(spec: ComposeService, shell: Shell): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = Array.isArray(spec.environment)
    ? spec.environment.map((e) => (e.includes('=') ? [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] : [e, null]))
    : Object.entries(spec.environment ?? {});
  for (const [k, v] of entries) {
    // KEY alone (or null): passed through from the shell, left out when the shell has none
    const value = v === null || v === undefined ? shell[k as string] : String(v);
    if (value !== undefined) out[k as string] = value;
  }
  return out;
}

/** The enabled services of a profile selection, each command run through serve's parser. */
function servicesFor(text: string, profileFlags: string[], shell: Shell = {}): { services: Service[]; doc: ComposeFile; raw: ComposeFile } {
  const { raw, doc, vars } = loadCompose(text, shell);
  const active = activeProfiles(profileFlags, vars);
  const services = Object.entries(doc.services)
    .filter(([, s]) => !s.profiles?.length || s.profiles.some((p) => active.includes(p)))
    .map(([name, spec]) => {
      const argv = [...(asList(spec.entrypoint) ?? imageEntrypoint), ...(asList(spec.command) ?? [])];
      // the container's environment: the image's ENV, then the service's
      const env = { ...imageEnv, ...serviceEnv(spec, shell) };
      if (argv[0] !== 'node' || argv[1] !== imageEntrypoint[1] || argv[2] !== 'serve') {
        throw new Error(`${name}: runs ${argv.join(' ')}, not node ${imageEntrypoint[1]} serve`);
      }
      let config: ServeConfig;
      try {
        config = parseServeConfig(argv.slice(3), env);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}`);
      }
      return { name, raw: raw.services[name]!, spec, env, argv, config };
    });
  return { services, doc, raw };
}

function durationSeconds(d: string | undefined): number {
  if (!d) return 10; // Compose's default
  let s = 0;
  for (const [, n, unit] of d.matchAll(/(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g)) s += Number(n) * { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 }[unit as 'h']!;
  return s;
}

const hostPort = (url: string) => {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) };
};

function publishedContainerPorts(spec: ComposeService): number[] {
  return (spec.ports ?? []).map((p) => {
    if (typeof p === 'object') return Number(p.target);
    const s = String(p).replace(/\/(tcp|udp)$/, '');
    return Number(s.split(':').at(-1));
  });
}

/** The topology a profile selection must have, and everything every service must have. */
function topologyProblems(text: string, profileFlags: string[]): string[] {
  const problems: string[] = [];
  const { services, doc, raw } = servicesFor(text, profileFlags);
  const byName = new Map(services.map((s) => [s.name, s]));
  const gateways = services.filter((s) => s.config.role === 'gateway');
  const servers = services.filter((s) => s.config.role === 'server');
  const chat = servers.filter((s) => s.config.role === 'server' && s.config.model);
  const embed = servers.filter((s) => s.config.role === 'server' && s.config.embeddingModels.length);
  const split = profileFlags.includes('split');

  if (split) {
    if (gateways.length !== 1) problems.push(`${gateways.length} gateways`);
    const inference = chat.filter((s) => s.config.role === 'server' && !s.config.embeddingModels.length);
    const embeddings = embed.filter((s) => s.config.role === 'server' && !s.config.model);
    if (inference.length !== 2) problems.push(`${inference.length} inference replicas, not 2`);
    if (embeddings.length !== 1) problems.push(`${embeddings.length} embeddings services, not 1`);
    if (services.length !== 4) problems.push(`${services.length} services: ${services.map((s) => s.name).join(', ')}`);
  } else if (services.length !== 1 || chat.length !== 1 || embed.length !== 1) {
    problems.push(`the default selection is ${services.map((s) => s.name).join(', ') || 'empty'}, not one server with chat and embeddings`);
  }

  for (const g of gateways) {
    if (g.config.role !== 'gateway') continue;
    for (const [kind, urls, serves] of [['inference', g.config.inference, chat], ['embeddings', g.config.embeddings, embed]] as const) {
      if (!urls.length) problems.push(`${g.name}: no --${kind}`);
      if (new Set(urls).size !== urls.length) problems.push(`${g.name}: --${kind} names a replica twice`);
      for (const url of urls) {
        const { host, port } = hostPort(url);
        const target = byName.get(host);
        if (!target) problems.push(`${g.name}: --${kind} ${url}: no service ${host} in this profile`);
        else if (target.config.port !== port) problems.push(`${g.name}: --${kind} ${url}: ${host} listens on ${target.config.port}`);
        else if (!(serves as readonly Service[]).includes(target)) problems.push(`${g.name}: --${kind} ${url}: ${host} serves no ${kind === 'inference' ? 'chat model' : 'embedding model'}`);
        const dep = Array.isArray(g.spec.depends_on) ? (g.spec.depends_on.includes(host) ? 'service_started' : undefined) : g.spec.depends_on?.[host]?.condition;
        if (dep !== 'service_started') problems.push(`${g.name}: depends_on ${host} is ${dep ?? 'missing'}, not service_started`);
      }
      for (const s of serves) if (!urls.some((u) => hostPort(u).host === s.name)) problems.push(`${g.name}: ${s.name} is not behind the gateway`);
    }
  }

  // only the front publishes: the gateway, or the one server of the all-in-one
  const fronts = gateways.length ? gateways : servers;
  for (const s of services) {
    const ports = publishedContainerPorts(s.spec);
    if (!fronts.includes(s) && ports.length) problems.push(`${s.name} publishes ${ports.join(', ')}: only the front service should`);
    if (fronts.includes(s) && !(ports.length === 1 && ports[0] === s.config.port)) problems.push(`${s.name} publishes ${ports.join(', ') || 'nothing'}, not its port ${s.config.port}`);
  }

  for (const s of services) {
    const p = (m: string) => problems.push(`${s.name}: ${m}`);
    if (s.config.host !== '0.0.0.0') p(`listens on ${s.config.host}`);
    if (s.config.port !== 8080) p(`listens on port ${s.config.port}`);
    if (s.spec.image !== 'predict-otron-9000') p(`image ${s.spec.image}`);
    const build = typeof s.spec.build === 'string' ? { context: s.spec.build } : s.spec.build;
    if (!build || !fs.existsSync(path.join(root, build.context ?? '.', build.dockerfile ?? 'Dockerfile')) || path.resolve(root, build.context ?? '.') !== root) {
      p('does not build the repository Dockerfile');
    }
    // the one model cache, at the container's HF_HOME
    const mounts = (s.spec.volumes ?? []).map((v) => (typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1] } : v));
    if (!mounts.some((m) => m.source === 'hf-cache' && m.target === s.env.HF_HOME)) p(`does not mount hf-cache at HF_HOME (${s.env.HF_HOME})`);
    if (mounts.some((m) => /docker\.sock/.test(m.source ?? ''))) p('mounts the Docker socket');
    const hc = s.spec.healthcheck;
    const test = Array.isArray(hc?.test) ? hc.test : hc?.test ? ['CMD-SHELL', hc.test] : [];
    if (!hc || hc.disable || !test.join(' ').includes('/health')) p('has no healthcheck on /health');
    if (durationSeconds(s.spec.stop_grace_period) <= s.config.shutdownSeconds) p(`stop_grace_period ${s.spec.stop_grace_period ?? '10s (default)'} is not longer than the ${s.config.shutdownSeconds} s drain`);
    if (!['always', 'unless-stopped', 'on-failure'].includes(s.spec.restart ?? '')) p(`restart ${s.spec.restart ?? 'no'}`);
    if (s.spec.privileged) p('is privileged');
    if (s.spec.cap_add?.length) p(`adds capabilities ${s.spec.cap_add.join(', ')}`);
    if (s.spec.network_mode === 'host' || s.spec.pid === 'host') p('shares the host network or PID namespace');
    // the token file as a secret, mounted where the image looks for it
    const secrets = (s.spec.secrets ?? []).map((x) => (typeof x === 'string' ? { source: x, target: undefined } : x));
    const hf = secrets.find((x) => x.source === 'hf_token');
    const mountedAt = hf ? (hf.target?.startsWith('/') ? hf.target : `/run/secrets/${hf.target ?? hf.source}`) : undefined;
    if (!hf || !doc.secrets?.hf_token?.file) p('has no hf_token file secret');
    else if (tokenFilePath(s.env) !== mountedAt) p(`reads the token file ${tokenFilePath(s.env)}, the secret is at ${mountedAt}`);
    // token-like variables only pass the shell's value through, never hold one
    const rawEnv = raw.services[s.name]!.environment ?? {};
    for (const [k, v] of Array.isArray(rawEnv) ? rawEnv.map((e) => e.split('=')) : Object.entries(rawEnv)) {
      if (SECRET_NAME.test(String(k)) && v !== null && v !== undefined && !new RegExp(`^\\$\\{${k}(:?-)?\\}$`).test(String(v))) p(`environment ${k} holds a value`);
    }
    // the models exist under these names: a hub id, embedding models from the catalog
    if (s.config.role === 'server') {
      if (s.config.model && parseModelRef(s.config.model.ref).kind !== 'hub') p(`--model ${s.config.model.ref} is not a hub id`);
      for (const e of s.config.embeddingModels) if (!embeddingCatalogEntry(e.ref)) p(`--embedding-model ${e.ref} is not in the embedding catalog`);
    }
  }
  if (!doc.volumes || !('hf-cache' in doc.volumes)) problems.push('no top-level volume hf-cache');
  return problems;
}

// ---------------------------------------------------------------------------------------------
// running a healthcheck command as Docker would, against a stub server

async function stubServer(status: number): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    res.statusCode = req.url === '/health' ? status : 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function runHealthcheck(argv: string[], env: Record<string, string>, port: number): Promise<number> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH, ...env, PREDICT_OTRON_PORT: String(port) }, timeout: 10_000 },
      (err) => resolve(err ? (typeof err.code === 'number' ? err.code : -1) : 0));
  });
}

async function healthcheckOutcomes(argv: string[], env: Record<string, string>): Promise<{ ok: number; unhealthy: number; down: number }> {
  const ok = await stubServer(200);
  const bad = await stubServer(503);
  try {
    const closed = await stubServer(200);
    await closed.close();
    return {
      ok: await runHealthcheck(argv, env, ok.port),
      unhealthy: await runHealthcheck(argv, env, bad.port),
      down: await runHealthcheck(argv, env, closed.port),
    };
  } finally {
    await ok.close();
    await bad.close();
  }
}

// ---------------------------------------------------------------------------------------------

describe('Dockerfile', () => {
  const problems = dockerfileProblems(dockerfileText);

  it.each(Object.keys(problems))('%s: no problems', (check) => {
    expect(problems[check]).toEqual([]);
  });

  it('has a builder and a runtime stage on the same exact Node 20 release', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.image).toMatch(/^node:20\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
  });

  // each check, shown to catch the mistake it is there for
  const mutations: [check: string, what: string, mutate: (t: string) => string, problem: RegExp][] = [
    ['pinned', 'a bare major', (t) => t.replace('FROM node:20.20.2-bookworm-slim AS runtime', 'FROM node:20-bookworm-slim AS runtime'), /not pinned/],
    ['stages', 'one stage', (t) => t.slice(t.indexOf('# --- runtime')), /1 stage\(s\)/],
    ['stages', 'another base for the runtime', (t) => t.replace('FROM node:20.20.2-bookworm-slim AS runtime', 'FROM node:20.19.5-bookworm-slim AS runtime'), /different bases/],
    ['pinned', 'latest', (t) => t.replace('FROM node:20.20.2-bookworm-slim AS builder', 'FROM node:latest AS builder'), /not pinned/],
    ['runtime-packages', 'a compiler in the final stage', (t) => t.replace('--no-install-recommends libgomp1', '--no-install-recommends libgomp1 g++'), /installs g\+\+/],
    ['runtime-packages', 'no libgomp1', (t) => t.replace('--no-install-recommends libgomp1', '--no-install-recommends ca-certificates'), /libgomp1/],
    ['copy-from', 'an unknown stage', (t) => t.replace('COPY --from=builder /app/dist/', 'COPY --from=build /app/dist/'), /--from=build: no earlier stage/],
    ['copy-from', 'a path the builder does not make', (t) => t.replace('/app/prebuilds/ ./prebuilds/', '/app/build/Release/ ./prebuilds/'), /neither copies nor builds/],
    ['runtime-files', 'no prebuilds', (t) => t.replace('COPY --from=builder /app/prebuilds/ ./prebuilds/\n', ''), /lacks \/app\/prebuilds/],
    ['runtime-files', 'no package.json', (t) => t.replace('COPY --from=builder /app/package.json ./package.json\n', ''), /lacks \/app\/package\.json/],
    ['user', 'root', (t) => t.replace(/^USER node$/m, 'USER root'), /runs as root/],
    ['user', 'no USER', (t) => t.replace(/^USER node$/m, ''), /runs as root/],
    ['secrets', 'a baked-in token', (t) => t.replace('NODE_ENV=production', 'NODE_ENV=production HF_TOKEN=hf_0123456789abcdefghijABCDEFGHIJ'), /ENV HF_TOKEN has a value/],
    ['secrets', 'the secret file copied', (t) => t.replace('COPY bin/ bin/', 'COPY bin/ bin/\nCOPY secrets/hf_token /run/secrets/hf_token'), /secret into a layer/],
    ['builder', 'install scripts run', (t) => t.replace('npm ci --ignore-scripts', 'npm ci'), /without --ignore-scripts/],
    ['builder', 'the prune before the chat page', (t) => t.replace(/ && npm run build:webui \\\n && npm prune (.*)$/m, ' && npm prune $1 \\\n && npm run build:webui'), /build:webui must run after npm ci and before npm prune/],
    ['portable', 'a CPU-tuned addon', (t) => t.replace('npm run prebuild', 'npm run build:native && npm run prebuild'), /CPU-tuned/],
    ['listen', 'EXPOSE another port', (t) => t.replace('EXPOSE 8080', 'EXPOSE 3000'), /does not match PREDICT_OTRON_PORT/],
    ['listen', 'the default loopback', (t) => t.replace('PREDICT_OTRON_HOST=0.0.0.0', 'PREDICT_OTRON_HOST=127.0.0.1'), /not be reachable/],
    ['hf-cache', 'HF_HOME not a volume', (t) => t.replace('VOLUME /data/huggingface', 'VOLUME /data/other'), /is not a VOLUME/],
    ['hf-cache', 'the chown after the VOLUME', (t) => t.replace('RUN mkdir -p /data/huggingface && chown node:node /data/huggingface\n', '')
      .replace('VOLUME /data/huggingface', 'VOLUME /data/huggingface\nRUN mkdir -p /data/huggingface && chown node:node /data/huggingface'), /no RUN before the VOLUME/],
    ['healthcheck', 'curl', (t) => t.replace('CMD ["node", "-e", ', 'CMD ["curl", "-e", '), /runs curl/],
    ['entrypoint', 'another entry file', (t) => t.replace('"bin/predict-otron.js"', '"bin/server.js"'), /does not run node bin\/predict-otron\.js/],
    ['entrypoint', 'another stop signal', (t) => t.replace('STOPSIGNAL SIGTERM', 'STOPSIGNAL SIGKILL'), /STOPSIGNAL SIGKILL/],
  ];

  it.each(mutations)('%s catches %s', (check, _what, mutate, problem) => {
    const mutated = mutate(dockerfileText);
    expect(mutated).not.toBe(dockerfileText);
    expect(dockerfileProblems(mutated)[check]!.join('\n')).toMatch(problem);
  });

  it('starts serve as a server on 0.0.0.0:EXPOSE with no arguments given', () => {
    const cmd = words(byKeyword(stages.at(-1)!, 'CMD').at(-1)!);
    const config = parseServeConfig(cmd.slice(1), imageEnv);
    expect(config.role).toBe('server');
    expect(config.host).toBe('0.0.0.0');
    expect(String(config.port)).toBe(imageEnv.PREDICT_OTRON_PORT);
  });

  it("the healthcheck command passes on a 200 from /health and fails on 503 or no server", async () => {
    expect(await healthcheckOutcomes(imageHealthcheck, imageEnv)).toEqual({ ok: 0, unhealthy: 1, down: 1 });
  });

  it('a healthcheck asking another path would be caught', async () => {
    const wrong = imageHealthcheck.map((a) => a.replace('/health', '/healthz'));
    expect((await healthcheckOutcomes(wrong, imageEnv)).ok).toBe(1);
  });

  it('the image reads the token from the secret mount, and an empty HF_TOKEN does not hide it', () => {
    expect(tokenFilePath(imageEnv)).toBe('/run/secrets/hf_token');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-secret-'));
    try {
      const file = path.join(dir, 'hf_token');
      fs.writeFileSync(file, 'hf_from_the_secret_file\n');
      // compose passes HF_TOKEN: ${HF_TOKEN:-}, i.e. '' when the shell has none
      const env = { ...imageEnv, HF_TOKEN: '', HF_TOKEN_PATH: file };
      expect(resolveToken(undefined, env)).toEqual({ token: 'hf_from_the_secret_file', source: 'token file', file });
      expect(resolveToken(undefined, { ...env, HF_TOKEN: 'hf_from_the_shell' })).toEqual({ token: 'hf_from_the_shell', source: 'HF_TOKEN' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the production dependencies cover every package src/ imports (the image has no devDependencies)', () => {
    const missing = new Set<string>();
    const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
    const files = walk(path.join(root, 'src'));
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      const src = fs.readFileSync(file, 'utf8');
      const specs = [
        ...[...src.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?'([^']+)'/gm)].map((m) => m[1]!),
        ...[...src.matchAll(/\b(?:require|import)\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]!),
      ];
      for (const spec of specs) {
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!(name in pkg.dependencies)) missing.add(`${name} (${path.relative(root, file)})`);
      }
    }
    expect([...missing]).toEqual([]);
  });
});

describe('.dockerignore', () => {
  const ignored = dockerignore(dockerignoreText);

  it('keeps out what .gitignore keeps out (dependencies, build outputs, generated models), .git and the secrets', () => {
    const samples = read('.gitignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !l.startsWith('!'))
      .flatMap((l) => {
        const s = l.replace(/\/$/, '').replace(/\*/g, 'x');
        // a glob like *.gguf matches at any depth
        return l.startsWith('*') ? [s, `test/sub/${s}`] : [s];
      });
    expect(samples).toEqual(expect.arrayContaining(['node_modules', 'dist', 'prebuilds', 'test/.models', 'bench/.work']));
    for (const p of [...samples, '.git', 'secrets/hf_token', '.env', 'build-portable/Release/predict_otron_native.node', 'webui/node_modules/x']) {
      expect({ path: p, ignored: ignored(p) }).toEqual({ path: p, ignored: true });
    }
  });

  it('lets through every file the builder copies from the context', () => {
    const builder = stages[0]!;
    const sources = copies(builder).filter((c) => c.from === null).flatMap((c) => c.sources.map((s) => s.replace(/\/$/, '')));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'CMakeLists.txt', 'native', 'src', 'scripts']));
    for (const src of sources) {
      expect(fs.existsSync(path.join(root, src)), `${src} is in the repository`).toBe(true);
      const blocked = filesUnder(src).filter(ignored);
      expect(blocked).toEqual([]);
    }
  });

  it('the matcher reads patterns as Docker does', () => {
    const m = dockerignore('build\n**/*.gguf\nsecrets\n!secrets/README.md\n');
    expect([m('build'), m('build/x/y'), m('native/build'), m('a.gguf'), m('test/.models/b.gguf'), m('secrets/hf_token'), m('secrets/README.md')])
      .toEqual([true, true, false, true, true, true, false]);
  });
});

describe('docker-compose.yml', () => {
  it('docker compose up without a profile starts nothing (neither topology by accident)', () => {
    expect(servicesFor(composeText, []).services).toEqual([]);
  });

  it('docker compose --profile all-in-one up: the all-in-one server alone, with the chat and the embedding model', () => {
    const { services } = servicesFor(composeText, ['all-in-one']);
    expect(services.map((s) => s.name)).toEqual(['server']);
    const c = services[0]!.config;
    expect(c).toMatchObject({ role: 'server', host: '0.0.0.0', port: 8080, model: { ref: 'google/gemma-3-270m-it' } });
    expect(c.role === 'server' && c.embeddingModels.map((e) => e.ref)).toEqual(['bge-small-en-v1.5']);
  });

  it('docker compose --profile split up: a gateway, 2 inference replicas and an embeddings service', () => {
    const { services } = servicesFor(composeText, ['split']);
    const by = Object.fromEntries(services.map((s) => [s.name, s.config]));
    expect(Object.keys(by).sort()).toEqual(['embeddings', 'gateway', 'inference-1', 'inference-2']);
    expect(by.gateway).toMatchObject({ role: 'gateway', host: '0.0.0.0', port: 8080, inference: ['http://inference-1:8080', 'http://inference-2:8080'], embeddings: ['http://embeddings:8080'] });
    for (const name of ['inference-1', 'inference-2']) {
      expect(by[name]).toMatchObject({ role: 'server', host: '0.0.0.0', port: 8080, model: { ref: 'google/gemma-3-270m-it' }, embeddingModels: [] });
    }
    expect(by.embeddings).toMatchObject({ role: 'server', host: '0.0.0.0', port: 8080, embeddingModels: [{ ref: 'bge-small-en-v1.5' }] });
    expect(by.embeddings).not.toHaveProperty('model');
  });

  it.each([[['all-in-one']], [['split']]])('profile %j: the topology and every service check out', (flags) => {
    expect(topologyProblems(composeText, flags)).toEqual([]);
  });

  it('every service, in both profiles, shares the hf-cache volume and one image', () => {
    const all = [...servicesFor(composeText, ['all-in-one']).services, ...servicesFor(composeText, ['split']).services];
    expect(all).toHaveLength(5);
    for (const s of all) {
      expect(s.spec.volumes).toContain(`hf-cache:${imageEnv.HF_HOME}`);
      expect(s.spec.image).toBe('predict-otron-9000');
    }
  });

  it('the token: HF_TOKEN from the shell reaches every service; the secret file is git-ignored', () => {
    for (const flags of [['all-in-one'], ['split']]) {
      for (const s of servicesFor(composeText, flags, { HF_TOKEN: 'hf_shell_value' }).services) {
        expect(resolveToken(undefined, s.env)).toEqual({ token: 'hf_shell_value', source: 'HF_TOKEN' });
      }
    }
    const file = loadCompose(composeText).doc.secrets!.hf_token!.file!;
    expect(path.resolve(root, file)).toBe(path.join(root, 'secrets', 'hf_token'));
    // exit 0: ignored, so a token put there is never committed
    expect(() => execFileSync('git', ['check-ignore', '-q', file], { cwd: root })).not.toThrow();
    expect(dockerignore(dockerignoreText)(file.replace(/^\.\//, ''))).toBe(true);
  });

  it('every healthcheck command passes on a 200 from /health and fails on 503 or no server', async () => {
    for (const flags of [['all-in-one'], ['split']]) {
      for (const s of servicesFor(composeText, flags).services) {
        const test = s.spec.healthcheck!.test as string[];
        expect(test[0]).toBe('CMD');
        expect(await healthcheckOutcomes(test.slice(1), s.env)).toEqual({ ok: 0, unhealthy: 1, down: 1 });
      }
    }
  });

  it('no .env is shipped: it is where Compose users put their tokens, and it must stay untracked', () => {
    expect(fs.existsSync(path.join(root, '.env'))).toBe(false);
    expect(() => execFileSync('git', ['check-ignore', '-q', '.env'], { cwd: root })).not.toThrow();
  });

  // each check, shown to catch the mistake it is there for
  const swap = (from: string, to: string) => (t: string) => {
    if (!t.includes(from)) throw new Error(`the mutation's target is not in docker-compose.yml: ${from}`);
    return t.replace(from, to);
  };

  it('a misspelled flag in a command fails in serve\'s parser', () => {
    const bad = swap('"--embedding-model", "bge-small-en-v1.5"]\n\nvolumes', '"--embeding-model", "bge-small-en-v1.5"]\n\nvolumes')(composeText);
    expect(() => servicesFor(bad, ['split'])).toThrow(/embeddings: .*embeding-model/);
    // the all-in-one profile does not run that service, so it still loads
    expect(servicesFor(bad, ['all-in-one']).services).toHaveLength(1);
  });

  it('a gateway flag on a model server fails in serve\'s parser', () => {
    const bad = swap('["serve", "--model", "google/gemma-3-270m-it"]', '["serve", "--model", "google/gemma-3-270m-it", "--inference", "http://x:8080"]')(composeText);
    expect(() => servicesFor(bad, ['split'])).toThrow(/inference-1: --inference is for --role gateway/);
  });

  const topologyMutations: [what: string, flags: string[], mutate: (t: string) => string, problem: RegExp][] = [
    ['a gateway URL naming no service', ['split'], swap('http://inference-1:8080,http://inference-2:8080', 'http://inference-1:8080,http://inference-3:8080'), /no service inference-3/],
    ['a gateway URL on the wrong port', ['split'], swap('http://embeddings:8080', 'http://embeddings:9000'), /embeddings listens on 8080/],
    ['a replica left out of the gateway', ['split'], swap('http://inference-1:8080,http://inference-2:8080', 'http://inference-1:8080'), /inference-2 is not behind the gateway/],
    ['embeddings sent to a chat replica', ['split'], swap('--embeddings\n      - http://embeddings:8080', '--embeddings\n      - http://inference-1:8080'), /inference-1 serves no embedding model/],
    ['the all-in-one server without a profile', ['split'], swap('    profiles: [all-in-one]\n', ''), /5 services/],
    ['a replica publishing a port', ['split'], swap('command: ["serve", "--embedding-model"', 'ports: ["8081:8080"]\n    command: ["serve", "--embedding-model"'), /embeddings publishes 8080/],
    ['a grace period shorter than the drain', ['all-in-one'], swap('stop_grace_period: 45s', 'stop_grace_period: 20s'), /stop_grace_period 20s/],
    ['a privileged service', ['all-in-one'], swap('restart: unless-stopped', 'restart: unless-stopped\n  privileged: true'), /server: is privileged/],
    ['the cache at another path', ['all-in-one'], swap('- hf-cache:/data/huggingface', '- hf-cache:/root/.cache/huggingface'), /does not mount hf-cache at HF_HOME/],
    ['a token written into the file', ['all-in-one'], swap('HF_TOKEN: ${HF_TOKEN:-}', 'HF_TOKEN: hf_0123456789abcdefghij'), /environment HF_TOKEN holds a value/],
    ['the gateway waiting for healthy replicas', ['split'], swap('inference-1:\n        condition: service_started', 'inference-1:\n        condition: service_healthy'), /depends_on inference-1 is service_healthy/],
    ['an embedding model not in the catalog', ['all-in-one'], swap('"--embedding-model", "bge-small-en-v1.5"]\n    ports', '"--embedding-model", "bge-smol-en-v1.5"]\n    ports'), /bge-smol-en-v1\.5 is not in the embedding catalog/],
  ];

  it.each(topologyMutations)('catches %s', (_what, flags, mutate, problem) => {
    expect(topologyProblems(mutate(composeText), flags).join('\n')).toMatch(problem);
  });
});
