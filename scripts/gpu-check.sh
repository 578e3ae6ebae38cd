#!/usr/bin/env bash
# The GPU checks of issue 14 as one script, without Node.js (the lent GPU machines have none):
#   1. ggml built once with CUDA, our runtime's tools and llama.cpp's llama-bench on it
#      (CMake: POTRON_ADDON=OFF POTRON_CUDA=ON POTRON_LLAMA_BENCH=ON);
#   2. potron-logits-check: GPU against CPU log-probabilities on the tiny models of each family,
#      every layer and a split (2 = the last layer and the output), F32 weights (tolerance 1e-3)
#      and F16 / BF16 weights (5e-2: the GPU multiplies in that type, the CPU in F32 after
#      rounding the activations, and the tiny random models are chaotic);
#   3. potron-bench next to llama-bench (same GGUF, same ggml build, all layers on the GPU) on the
#      gemma-3 270m and 1b shapes, when python3 with numpy is there to generate them.
#
# Prepare on a machine with the repository set up:  scripts/gpu-check.sh --pack
#   writes bench/.work/gpu-carry.tgz (the pinned llama.cpp source without its docs and models, the
#   tiny models): carry that one path to the GPU machine.
# Run there from the repository root:                scripts/gpu-check.sh [OUTDIR]
#   (OUTDIR defaults to $OUT); prints and writes OUTDIR/gpu-check.jsonl and the build log.
# A dry run of the same steps on a CPU machine (ggml's RPC backend stands in for the GPU):
#   CUDA=OFF DEVICE=RPC0 RPC=127.0.0.1:50052 BENCH=0 scripts/gpu-check.sh /tmp/dry
#   (it starts build-gpu/potron-rpc-server on that address itself).
set -uo pipefail
cd "$(dirname "$0")/.."
carry=bench/.work/gpu-carry.tgz

if [[ "${1:-}" == "--pack" ]]; then
  [[ -f deps/llama.cpp/tools/llama-bench/llama-bench.cpp ]] || node scripts/fetch-ggml.mjs --full
  mkdir -p bench/.work
  tar -czf "$carry" --exclude='deps/llama.cpp/docs' --exclude='deps/llama.cpp/models' --exclude='deps/llama.cpp/media' \
    --exclude='deps/llama.cpp/tests' --exclude='deps/llama.cpp/examples' --exclude='deps/llama.cpp/benches' --exclude='.git' \
    deps/llama.cpp test/.models/gemma-f32.gguf test/.models/gemma2-f32.gguf test/.models/gemma3-f32.gguf \
    test/.models/gemma3-q8_0.gguf test/.models/hf/gemma3-bf16 test/.models/hf/gemma2-bf16 test/.models/hf/gemma3-f16
  ls -la "$carry"
  exit 0
fi

out=${1:-${OUT:-/tmp/gpu-check}}
device=${DEVICE:-CUDA0}
cuda=${CUDA:-ON}
rpc=${RPC:-}
mkdir -p "$out"
results="$out/gpu-check.jsonl"
: >"$results"
note() { echo "$*" | tee -a "$results"; }
[[ -f "$carry" && ! -d deps/llama.cpp/ggml ]] && tar -xzf "$carry"
if [[ "$cuda" == ON ]]; then
  nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader | sed 's/^/{"gpu":"/; s/$/"}/' | tee -a "$results"
  # ggml-cuda links cuBLAS: say at once whether the toolkit has it, before minutes of building
  nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  cuda_root=$(dirname "$(dirname "$(readlink -f "$nvcc_bin")")")
  cublas=$(find "$cuda_root/include" "$cuda_root/targets" -name cublas_v2.h 2>/dev/null | head -1)
  note "{\"nvcc\":\"$("$nvcc_bin" --version 2>/dev/null | grep -o 'release [0-9.]*')\",\"cuda_root\":\"$cuda_root\",\"cublas_header\":\"${cublas:-missing}\"}"
fi

# 1. one ggml with CUDA for both sides (sm of this GPU only: minutes, not an hour)
t0=$(date +%s)
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DPOTRON_ADDON=OFF -DPOTRON_CUDA="$cuda" -DPOTRON_NATIVE_CPU=ON \
  -DPOTRON_LLAMA_BENCH=ON -DCMAKE_CUDA_ARCHITECTURES=native >"$out/build.log" 2>&1 &&
  cmake --build build-gpu -j"$(nproc)" --target potron-logits-check potron-bench llama-bench $([[ -n "$rpc" ]] && echo potron-rpc-server) \
    >>"$out/build.log" 2>&1
rc=$?
note "{\"step\":\"build\",\"rc\":$rc,\"seconds\":$(($(date +%s) - t0))}"
if [[ $rc -ne 0 ]]; then tail -40 "$out/build.log"; exit 1; fi
llama_bench=$(find build-gpu -name llama-bench -type f -perm -u+x | head -1)

# 2. logits, GPU against CPU
fail=0
rpc_args=()
if [[ -n "$rpc" ]]; then
  build-gpu/potron-rpc-server "$rpc" 1 >"$out/rpc-server.log" 2>&1 &
  rpc_pid=$!
  trap 'kill $rpc_pid 2>/dev/null' EXIT
  # until it accepts connections (a connection that closes unused is what our own probe does too)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/${rpc%:*}/${rpc##*:}") 2>/dev/null && break; sleep 0.1; done
  rpc_args=(--rpc "$rpc")
fi
check() {
  local line
  line=$(build-gpu/potron-logits-check "$@" "${rpc_args[@]}" 2>&1 | tail -1)
  echo "$line" | tee -a "$results"
  [[ "$line" == *'"ok":true'* ]] || fail=1
}
for f in gemma gemma2 gemma3; do
  for layers in -1 2; do
    check "test/.models/$f-f32.gguf" "$device" --gpu-layers "$layers" --tol 1e-3
    check "test/.models/$f-f32.gguf" "$device" --gpu-layers "$layers" --kv f16 --fa --tol 1e-2
  done
done
check test/.models/gemma3-q8_0.gguf "$device" --tol 1e-2
for d in hf/gemma3-bf16:bf16 hf/gemma2-bf16:bf16 hf/gemma3-f16:f16; do
  check "test/.models/${d%%:*}" "$device" --dtype "${d##*:}" --tol 5e-2
done

# 3. speed next to llama-bench, when the bench models can be generated here
if [[ "${BENCH:-1}" == 0 ]]; then
  note '{"step":"bench","skipped":"BENCH=0"}'
elif python3 -c 'import numpy' 2>/dev/null; then
  for shape in 270m 1b; do
    m="$out/gemma3-$shape-q8_0.gguf"
    python3 scripts/make-tiny-gemma --arch gemma3 --preset "$shape" --type q8_0 --seed 1 --out "$m" >/dev/null 2>&1 ||
      { note "{\"step\":\"model $shape\",\"rc\":1}"; continue; }
    for r in 1 2; do
      ours=$(build-gpu/potron-bench "$m" 4 512 128 3 0 "$device" -1 2>/dev/null | tail -1)
      note "{\"shape\":\"$shape\",\"round\":$r,\"ours\":${ours:-null}}"
      "$llama_bench" -m "$m" -t 4 -ngl 99 -p 512 -n 128 -r 3 -o jsonl 2>/dev/null |
        while read -r line; do note "{\"shape\":\"$shape\",\"round\":$r,\"llama_bench\":$line}"; done
    done
    rm -f "$m"
  done
else
  note '{"step":"bench","skipped":"python3 with numpy is not here to generate the 270m/1b shapes"}'
fi
note "{\"done\":true,\"logits_ok\":$([[ $fail -eq 0 ]] && echo true || echo false)}"
exit $fail
