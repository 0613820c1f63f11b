#!/usr/bin/env bash
# Issue 16's soak on the GPU host: 10,000 captured ZO steps (gpt2-355M shape, bf16) and 1,000 GPU create/close
# cycles, memory sampled along the way (org.zotune.bench.Soak). Needs the dist bundle and the benchmarks jar.
# usage: benchmarks/soak.sh [OUT_DIR] [Soak options, e.g. --part steps --steps 2000]
set -uo pipefail
out=${1:-benchmarks/out/soak}; shift || true
dist=${ZOTUNE_DIST:-dist}
bench=${ZOTUNE_BENCH:-benchmarks/target}
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
done
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>/dev/null || true
date -u '+%Y-%m-%d %H:%M UTC' >> "$out/gpu.txt"
"$dist/runtime/bin/java" -Xmx8g -cp "$bench/benchmarks.jar:$bench/lib/*:$dist/lib/*" org.zotune.bench.Soak \
  --out "$out" "$@" 2>&1 | tee "$out/soak.log"
exit "${PIPESTATUS[0]}"
