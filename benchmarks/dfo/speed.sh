#!/usr/bin/env bash
# DFO-LoRA speed (issue "Derivative-free LoRA", item 8): generations per second for lambda = 20 at RoBERTa-large's and
# GPT-2 large's shapes (random weights, float32 base as a dfo run has it), 16 examples per class x 2 classes x 64
# tokens, the searched layer the middle one with the layers below it at non-zero points: zotune batched (the whole
# generation in one forward), zotune sequential (the members one at a time) (org.zotune.bench.DfoSpeedBench) and the
# PyTorch peer written from the DFO-LoRA article's public loop (benchmarks/peer/dfo_peer.py: candidates one by one
# through a Hugging Face forward) in float32 (the public code's) and in bf16, all in this one invocation on the same
# GPU; then the table (benchmarks/dfo/speed_report.py: gen/s, batched/peer ratios against the target >= 10x).
# Run from the repository root on the GPU host, with the dist bundle (mvn -Pdist package) and the built benchmarks
# (mvn install -DskipTests && mvn -f benchmarks/pom.xml package), python3 with torch, transformers and numpy:
#   benchmarks/dfo/speed.sh [OUT_DIR]        (default benchmarks/out/dfo-speed; under 10 min at most)
# ZOTUNE_DIST / ZOTUNE_BENCH: where the bundle and the built benchmarks are (default dist, benchmarks/target).
# Resumable: a phase (zotune, peer, peer-bf16) whose rows are all in OUT_DIR is not run again (delete OUT_DIR/*.done
# to redo). Each phase has a time limit and its program a deadline after which it starts no new row: zotune 330 s
# (deadline 270), peer 150 s (110), peer-bf16 100 s (60): 580 s in all, so that one 600 s call holds the whole
# script, and a call cut off earlier is continued by calling again. A row times at most
# ROW_SECONDS (default 15) of generations after two warm-up generations (a batched generation's first runs
# uncaptured, its second captures the graph: timed ones replay it, as the sequential row's members do).
# DTYPES (default fp32,bf16): the zotune base dtypes; fp32 rows are zotune-batched / zotune-sequential (the public
# code's float32), bf16 rows zotune-batched-bf16 / zotune-sequential-bf16.
# PEER_DTYPES (default fp32,bf16): the peer's dtypes (dfo_peer.py --dtype): fp32 rows in OUT_DIR/peer.jsonl (the
# public code's float32), bf16 rows (the model and the LoRA products in bf16, the loss in float32) in
# OUT_DIR/peer-bf16.jsonl; both are system peer-sequential, told apart by their "dtype".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-benchmarks/out/dfo-speed}
dist=${ZOTUNE_DIST:-dist}
bench=${ZOTUNE_BENCH:-benchmarks/target}
shapes=${SHAPES:-roberta-large,gpt2-large}
row_seconds=${ROW_SECONDS:-15}
common=(--shapes "$shapes" --population "${POPULATION:-20}" --per-class 16 --classes 2 --seq 64 --subspace 500 \
        --rank 4 --generations "${GENERATIONS:-5}" --warmup 2 --row-seconds "$row_seconds")
dtypes=${DTYPES:-fp32,bf16}
n_dtypes=$(echo "$dtypes" | tr ',' '\n' | grep -c .)
peer_dtypes=${PEER_DTYPES:-fp32,bf16}
fail() { echo "speed.sh: $*" >&2; exit 2; }
for pd in ${peer_dtypes//,/ }; do
  case $pd in fp32|bf16) ;; *) fail "PEER_DTYPES: '$pd' is not fp32 or bf16 (got '$peer_dtypes')";; esac
done
[ -x "$dist/runtime/bin/java" ] || fail "no $dist/runtime/bin/java (build the bundle: mvn -Pdist package; or set ZOTUNE_DIST)"
[ -f "$bench/benchmarks.jar" ] || fail "no $bench/benchmarks.jar (mvn -f benchmarks/pom.xml package; or set ZOTUNE_BENCH)"
python3 -c 'import numpy, torch, transformers' 2>/dev/null \
  || fail "python3 lacks numpy, torch or transformers (the peer needs them)"
mkdir -p "$out"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
done
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>/dev/null || true
date -u '+%Y-%m-%d %H:%M UTC' >> "$out/gpu.txt"
git -C "$here" rev-parse --short HEAD >> "$out/gpu.txt" 2>/dev/null || true

# complete FILE N: FILE holds N rows (kind "row")
complete() { [ -f "$1" ] && [ "$(grep -c '"kind": *"row"' "$1")" -ge "$2" ]; }
n_shapes=$(echo "$shapes" | tr ',' '\n' | grep -c .)

# zotune: batched and sequential per shape
if [ -f "$out/zotune.done" ]; then
  echo "zotune phase: done before (rows in $out/zotune.jsonl)"
else
  rm -f "$out/zotune.jsonl"
  timeout 330 "$dist/runtime/bin/java" -Xmx24g -XX:MaxDirectMemorySize=8g \
    -cp "$bench/benchmarks.jar:$bench/lib/*:$dist/lib/*" org.zotune.bench.DfoSpeedBench "${common[@]}" \
    --dtypes "$dtypes" --deadline 270 --out "$out/zotune.jsonl" 2>&1 | tee "$out/zotune.log"
  echo "zotune phase: exit ${PIPESTATUS[0]} after ${SECONDS}s"
  complete "$out/zotune.jsonl" $((2 * n_shapes * n_dtypes)) && touch "$out/zotune.done"
fi

# the peer: the public code's loop, candidates one by one; float32 (phase peer), then bf16 (phase peer-bf16)
for pd in ${peer_dtypes//,/ }; do
  if [ "$pd" = fp32 ]; then phase=peer limit=150 deadline=110; else phase=peer-bf16 limit=100 deadline=60; fi
  if [ -f "$out/$phase.done" ]; then
    echo "$phase phase: done before (rows in $out/$phase.jsonl)"
    continue
  fi
  rm -f "$out/$phase.jsonl"
  timeout "$limit" python3 "$here/../peer/dfo_peer.py" "${common[@]}" --dtype "$pd" --deadline "$deadline" \
    --out "$out/$phase.jsonl" 2>&1 | tee "$out/$phase.log"
  echo "$phase phase: exit ${PIPESTATUS[0]} after ${SECONDS}s"
  complete "$out/$phase.jsonl" "$n_shapes" && touch "$out/$phase.done"
done
python3 "$here/speed_report.py" "$out"
