#!/usr/bin/env node
// npm run build:cuda: ggml's CUDA backend from the same pinned source as the CPU build.
//   (default)   this checkout's addon with CUDA built in (build/Release), for a machine with a
//               CUDA toolkit: `--device cuda` and `auto` then find the GPU.
//   --package   libggml-cuda.so built on its own (GGML_BACKEND_DL) into packages/linux-x64-cuda/,
//               the optional platform package that prebuilt addons load (src/runtime/native.ts).
// Needs nvcc and cuBLAS: CUDA 12+ from NVIDIA, or Debian's CUDA 11.8 (non-free:
// nvidia-cuda-toolkit nvidia-cuda-dev, with g++-11 as its host compiler). The GPU architectures
// are POTRON_CUDA_ARCHS (CMake's list; default: this machine's GPU when there is one, else a
// spread from Turing on, with PTX for newer GPUs to compile at load).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const asPackage = process.argv.includes('--package');

function fail(message) {
  console.error(`build:cuda: ${message}`);
  process.exit(1);
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const f = path.join(dir, cmd);
    if (fs.existsSync(f)) return f;
  }
  return null;
}

// nvcc: CUDACXX, then Debian's (/usr/bin, with cuBLAS), then NVIDIA's default prefix, then PATH
const nvcc = [process.env.CUDACXX, '/usr/bin/nvcc', '/usr/local/cuda/bin/nvcc', which('nvcc')].find((f) => f && fs.existsSync(f));
if (!nvcc) fail('no nvcc found: install a CUDA toolkit (Debian: add non-free, apt-get install nvidia-cuda-toolkit nvidia-cuda-dev) or set CUDACXX');
const version = /release (\d+)\.(\d+)/.exec(execFileSync(nvcc, ['--version'], { encoding: 'utf8' }));
if (!version) fail(`${nvcc} --version printed no release number`);
const [major, minor] = [Number(version[1]), Number(version[2])];
if (major < 11 || (major === 11 && minor < 8)) fail(`${nvcc} is CUDA ${major}.${minor}; ggml needs 11.8 or later`);

// cuBLAS, which ggml's CUDA backend links: next to nvcc's toolkit or in the system include dirs
const toolkit = path.resolve(path.dirname(fs.realpathSync(nvcc)), '..');
const includeDirs = [path.join(toolkit, 'include'), path.join(toolkit, 'targets', `${process.arch === 'arm64' ? 'sbsa' : 'x86_64'}-linux`, 'include'), '/usr/include'];
if (!includeDirs.some((d) => fs.existsSync(path.join(d, 'cublas_v2.h')))) {
  fail(`the CUDA toolkit of ${nvcc} (${major}.${minor}) has no cuBLAS (cublas_v2.h not in ${includeDirs.join(', ')}); ` +
    'install it (NVIDIA: libcublas-dev; Debian: nvidia-cuda-dev) or point CUDACXX at a toolkit that has it');
}

// the toolkit of that nvcc, whole: its own ptxas and fatbinary first on PATH (nvcc calls them by
// name, and a second toolkit earlier on PATH, e.g. CUDA 13 in /usr/local/bin, rejects 11.8's
// output), and CMake's FindCUDAToolkit pointed at it rather than at whichever it finds first
const binDirs = [...new Set([path.dirname(nvcc), path.dirname(fs.realpathSync(nvcc))])];
const env = { ...process.env, PATH: [...binDirs, process.env.PATH].join(path.delimiter), CUDACXX: nvcc };
const defines = [`--CDCMAKE_CUDA_COMPILER=${nvcc}`, `--CDCUDAToolkit_ROOT=${path.dirname(path.dirname(nvcc))}`, '--CDPOTRON_CUDA=ON'];
// nvcc 11.8 does not accept GCC 12's headers
if (major === 11) {
  const gxx11 = which('g++-11');
  if (!gxx11) fail('CUDA 11.8 needs g++-11 as its host compiler (Debian: apt-get install g++-11)');
  defines.push(`--CDCMAKE_CUDA_HOST_COMPILER=${gxx11}`);
}
let archs = process.env.POTRON_CUDA_ARCHS;
if (!archs) {
  const hasGpu = (() => {
    try {
      return execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8' }).includes('GPU');
    } catch {
      return false;
    }
  })();
  // 11.8 cannot build sm_90's code paths (ggml uses CUDA 12 APIs there): PTX of 8.6 covers newer GPUs
  archs = hasGpu ? 'native' : major >= 12 ? '75-real;80-real;86-real;89-real;90-real;90-virtual' : '75-real;80-real;86-real;86-virtual';
}
defines.push(`--CDCMAKE_CUDA_ARCHITECTURES=${archs}`);

execFileSync(process.execPath, [path.join(root, 'scripts', 'fetch-ggml.mjs')], { stdio: 'inherit', cwd: root });
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const started = Date.now();
if (!asPackage) {
  execFileSync(process.execPath, [cmakeJs, 'compile', '--CDPOTRON_NATIVE_CPU=ON', ...defines], { stdio: 'inherit', cwd: root, env });
  console.log(`build:cuda: build/Release addon with CUDA ${major}.${minor} (${archs}) in ${((Date.now() - started) / 60000).toFixed(1)} min`);
  process.exit(0);
}

const build = path.join(root, 'build-cuda');
execFileSync(process.execPath, [cmakeJs, 'compile', '-O', build, '--target', 'ggml-cuda', '--CDPOTRON_NATIVE_CPU=OFF', ...defines], { stdio: 'inherit', cwd: root, env });
const lib = ['bin', 'Release', '.'].map((d) => path.join(build, d, 'libggml-cuda.so')).find((f) => fs.existsSync(f));
if (!lib) fail(`the build finished without libggml-cuda.so in ${build}`);
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const out = path.join(root, 'packages', 'linux-x64-cuda');
fs.mkdirSync(out, { recursive: true });
fs.copyFileSync(lib, path.join(out, 'libggml-cuda.so'));
fs.writeFileSync(path.join(out, 'package.json'), JSON.stringify({
  name: `${pkg.name}-linux-x64-cuda`,
  version: pkg.version,
  description: `ggml's CUDA backend for ${pkg.name} (CUDA ${major}.${minor}, architectures ${archs}); needs the CUDA runtime and cuBLAS ${major} and an NVIDIA driver`,
  license: pkg.license,
  os: ['linux'],
  cpu: ['x64'],
  libc: ['glibc'],
  files: ['libggml-cuda.so'],
}, null, 2) + '\n');
console.log(`build:cuda: ${path.relative(root, out)}/libggml-cuda.so (${(fs.statSync(lib).size / 2 ** 20).toFixed(0)} MiB) in ${((Date.now() - started) / 60000).toFixed(1)} min`);
