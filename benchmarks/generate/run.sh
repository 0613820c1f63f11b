#!/usr/bin/env bash
# Greedy generation, zotune (GenerateBench: bf16, KV cache with the captured decode step and with eager steps, and a
# short batch-1 run without the cache) against Hugging Face
# generate() (hf_generate.py) on the same GPU in one run, random weights of GPT-2 1.5B's shape, then the table.
# Run from the repo root on a GPU host with the dist bundle (mvn -Pdist package) and the built benchmarks
# (mvn -f benchmarks/pom.xml package); transformers and torch installed for python3.
#   benchmarks/generate/run.sh [OUT_DIR]
# Variables: SIZE (1558M), PROMPT (32), NEW (128), BATCHES (1,16: both implementations), REPS (3),
#   UNCACHED (16: new tokens of zotune's run without the cache; 0 skips it), HF_STATIC (1: also HF's static cache)
set -euo pipefail
out=${1:-benchmarks/out/generate}
dist=${ZOTUNE_DIST:-dist}
bench=${ZOTUNE_BENCH:-benchmarks/target}
size=${SIZE:-1558M}
prompt=${PROMPT:-32}
new=${NEW:-128}
reps=${REPS:-3}
mkdir -p "$out"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
done
export PYTHONUNBUFFERED=1
static=()
if [ "${HF_STATIC:-0}" = 1 ]; then static=(--static); fi
python3 benchmarks/generate/hf_generate.py --out "$out/hf.jsonl" --size "$size" --prompt "$prompt" --new "$new" \
  --batches "${BATCHES:-1,16}" --reps "$reps" "${static[@]}" 2>&1 | tee "$out/hf.log"
"$dist/runtime/bin/java" -cp "$bench/benchmarks.jar:$bench/lib/*:$dist/lib/*" org.zotune.bench.GenerateBench \
  "$size" "$prompt" "$new" "$reps" "${UNCACHED:-16}" "${BATCHES:-1,16}" 2>&1 | tee "$out/zotune.log"
grep '^{' "$out/zotune.log" > "$out/zotune.jsonl"
python3 benchmarks/generate/report.py "$out/hf.jsonl" "$out/zotune.jsonl" | tee "$out/table.md"
