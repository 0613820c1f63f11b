#!/usr/bin/env bash
# Data-parallel ZO over GPUs through NCCL (issue 15.5): zotune's ZO-SGD step on GPT-2 1.5B shapes (random weights),
# bf16, 16x128 tokens per GPU (global batch 16x128xN), for 1, 2, 4 and 8 GPUs (those present): steps/s, tokens/s and
# the efficiency against perfect scaling (target >= 90 % at 4 GPUs), plus the single engine's captured step.
# Run from the repo root on a multi-GPU host with the dist bundle (mvn -Pdist package) and the built benchmarks
# (mvn install -DskipTests && mvn -f benchmarks/pom.xml package):
#   benchmarks/nccl_scaling.sh [OUT_DIR]
# Splitting the SPSA samples over GPUs (parallel.split samples) is not built on GPUs yet: no row for it.
# Then the DFO population of 80 members (method dfo with parallel.gpus N): the batched population forward on a
# random-weight RoBERTa-large shape (float32 base, masked-LM prompt, 16 examples per class x 2 classes x 64 tokens),
# the members divided over 1, 2, 4, 8 GPUs: generations/s, members/s and the efficiency against perfect (strong)
# scaling, in dfo_scaling.jsonl. No NCCL there: each member's loss is a scalar that returns to the host.
set -uo pipefail
out=${1:-benchmarks/out/nccl}
dist=${ZOTUNE_DIST:-dist}
bench=${ZOTUNE_BENCH:-benchmarks/target}
mkdir -p "$out"
rm -f "$out/scaling.jsonl"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
done
# NCCL's library and NCCL_NVLS_ENABLE=0, as the launchers do
. "$dist/nccl-path.sh"
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>/dev/null || true
nvidia-smi topo -m >> "$out/gpu.txt" 2>/dev/null || true
date -u '+%Y-%m-%d %H:%M UTC' >> "$out/gpu.txt"
timeout 560 "$dist/runtime/bin/java" -Xmx48g -XX:MaxDirectMemorySize=8g \
  -cp "$bench/benchmarks.jar:$bench/lib/*:$dist/lib/*" org.zotune.train.ScalingBench \
  --model 1558M --gpus "${ZOTUNE_GPUS:-1,2,4,8}" --batch 16 --seq 128 --steps "${ZOTUNE_STEPS:-20}" --warmup 3 \
  --out "$out/scaling.jsonl" 2>&1 | tee "$out/scaling.log"
echo "exit ${PIPESTATUS[0]}; rows in $out/scaling.jsonl"
rm -f "$out/dfo_scaling.jsonl"
timeout 560 "$dist/runtime/bin/java" -Xmx48g -XX:MaxDirectMemorySize=8g \
  -cp "$bench/benchmarks.jar:$bench/lib/*:$dist/lib/*" org.zotune.train.DfoScalingBench \
  --population "${ZOTUNE_POPULATION:-80}" --gpus "${ZOTUNE_GPUS:-1,2,4,8}" --per-class 16 --classes 2 --seq 64 \
  --generations "${ZOTUNE_GENERATIONS:-5}" --warmup 2 --out "$out/dfo_scaling.jsonl" 2>&1 | tee "$out/dfo_scaling.log"
echo "exit ${PIPESTATUS[0]}; rows in $out/dfo_scaling.jsonl"
