// What `npm pack` puts in the published package: everything an install needs (the compiled JS and
// its types, the CLI, the web page, the native sources and build scripts for machines without a
// prebuild, the prebuilds), and nothing of the repository's own (tests, benchmarks, fetched
// sources, build trees, models).
import { execFileSync } from 'node:child_process';

import { beforeAll, describe, expect, it } from 'vitest';

import { root } from './helpers/models.js';

interface PackEntry {
  path: string;
  size: number;
}
let files: string[] = [];
let unpacked = 0;

beforeAll(() => {
  // --ignore-scripts: `prepare` (tsc, vite) already ran in pretest; packing must not rebuild
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [pack] = JSON.parse(out) as { files: PackEntry[]; unpackedSize: number }[];
  files = pack!.files.map((f) => f.path);
  unpacked = pack!.unpackedSize;
});

describe('the npm package', () => {
  it('holds the library, its types, the CLI and the web page', () => {
    for (const f of ['package.json', 'README.md', 'bin/predict-otron.js', 'dist/index.js', 'dist/index.d.ts', 'dist/runtime/addon.d.ts', 'dist/cli/main.js']) {
      expect(files, f).toContain(f);
    }
    expect(files.some((f) => /^dist\/webui\/.*\.html$/.test(f)), 'the built web page').toBe(true);
    expect(files.some((f) => /^dist\/webui\/.*\.js$/.test(f)), 'the web page\'s script').toBe(true);
  });

  it('holds every native source and build script a source build needs (no prebuild for the platform)', () => {
    const tracked = execFileSync('git', ['ls-files', 'native', 'CMakeLists.txt'], { cwd: root, encoding: 'utf8' }).trim().split('\n');
    expect(tracked.length).toBeGreaterThan(50);
    for (const f of tracked) expect(files, f).toContain(f);
    for (const f of ['scripts/install-native.mjs', 'scripts/fetch-ggml.mjs', 'scripts/prebuild.mjs']) expect(files, f).toContain(f);
    // what the install hook runs is declared: the addon builds from these
    const pkg = JSON.parse(execFileSync('git', ['show', 'HEAD:package.json'], { cwd: root, encoding: 'utf8' })) as { scripts: Record<string, string> };
    expect(pkg.scripts.install).toBe('node scripts/install-native.mjs');
  });

  it('holds nothing of the repository\'s own: tests, benchmarks, fetched sources, build trees, models, secrets', () => {
    const stray = files.filter((f) =>
      /^(test|bench|deps|build|build-[^/]+|node_modules|src|webui|docs|deploy|\.ci|\.github)\//.test(f) ||
      /\.(gguf|safetensors|o|a|log)$/.test(f) || /(^|\/)\.env/.test(f) ||
      // test-only generators and references
      /^scripts\/(make-tiny-encoder|make-tiny-xlmr-reranker|reference-cross-encoder|test-prereqs\.mjs)$/.test(f));
    expect(stray).toEqual([]);
  });

  it('prebuilds, when present, are node-gyp-build\'s layout: prebuilds/<platform>-<arch>/ with napi-tagged addons', () => {
    const prebuilt = files.filter((f) => f.startsWith('prebuilds/'));
    for (const f of prebuilt) expect(f).toMatch(/^prebuilds\/(linux|darwin|win32)-(x64|arm64)\/(node\.napi(\.(glibc|musl))?\.node|[^/]*\.(so(\.\d+)?|dylib|dll)|(glibc|musl)\/[^/]+\.so(\.\d+)?)$/);
    // without prebuilds the package is small: sources and JS only
    if (!prebuilt.length) expect(unpacked).toBeLessThan(8 * 1024 * 1024);
  });
});

describe('the prebuild workflow (.github/workflows/prebuilds.yml: runs on GitHub, not here)', () => {
  it('builds and smoke-tests every platform the package ships, the CUDA package, then checks the packed contents', async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const YAML = (await import('yaml')).default;
    const wf = YAML.parse(fs.readFileSync(path.join(root, '.github', 'workflows', 'prebuilds.yml'), 'utf8')) as {
      jobs: Record<string, { strategy?: { matrix: { include: { name: string; os: string; container: string }[] } }; steps: { run?: string }[]; needs?: string[] }>;
    };
    const runs = (job: string) => wf.jobs[job]!.steps.map((s) => s.run ?? '').join('\n');
    const names = wf.jobs.prebuild!.strategy!.matrix.include.map((m) => m.name);
    expect(names.sort()).toEqual(['darwin-arm64', 'linux-arm64-glibc', 'linux-x64-glibc', 'linux-x64-musl', 'win32-x64']);
    const musl = wf.jobs.prebuild!.strategy!.matrix.include.find((m) => m.name === 'linux-x64-musl')!;
    expect(musl.container).toMatch(/alpine/);
    expect(runs('prebuild')).toContain('npm run prebuild');
    expect(runs('prebuild')).toContain('node scripts/prebuild-smoke.mjs');
    expect(runs('cuda')).toContain('npm run build:cuda -- --package');
    expect(wf.jobs.package!.needs).toEqual(['prebuild', 'cuda']);
    expect(runs('package')).toContain('test/pack.test.ts');
    // every script the workflow runs exists
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const s of ['prebuild', 'build:cuda', 'build:ts', 'build:webui']) expect(pkg.scripts[s], s).toBeDefined();
    for (const f of ['scripts/prebuild-smoke.mjs', 'scripts/build-cuda.mjs', 'scripts/prebuild.mjs']) expect(fs.existsSync(path.join(root, f)), f).toBe(true);
  });
});
