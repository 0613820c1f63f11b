#!/usr/bin/env bash
# Kernel-by-kernel split of one encoder forward, zotune's against Hugging Face's, under ncu on the same GPU: where
# the time of a row of benchmarks/forward.sh --encoders goes (issue 12 item 8). From the repo root on a GPU host with
# the dist bundle and the built benchmarks (ZOTUNE_DIST / ZOTUNE_BENCH as forward.sh):
#   benchmarks/profile/encoder_forward.sh OUT [MODEL] [BxT] [DTYPE] [OUTPUT]     (defaults roberta-large 32x512 bf16 hidden)
# Writes OUT/{zotune,hf}-MODEL-BxT-DTYPE.csv (ncu's per-kernel durations) and prints each side's summary
# (benchmarks/ncu_summary.py). ncu runs with --clock-control none and its default cache flush before every kernel,
# on both sides alike: the sums are kernel time, not the forward's wall time.
set -euo pipefail
out=${1:?usage: encoder_forward.sh OUT [MODEL] [BxT] [DTYPE] [OUTPUT]}
model=${2:-roberta-large}; shape=${3:-32x512}; dt=${4:-bf16}; output=${5:-hidden}
dist=${ZOTUNE_DIST:-dist}; bench=${ZOTUNE_BENCH:-benchmarks/target}
ncu=${NCU:-/usr/local/cuda/bin/ncu}
for f in "$dist/runtime/bin/java" "$bench/benchmarks.jar" "$ncu"; do
  [ -e "$f" ] || { echo "encoder_forward.sh: $f not found" >&2; exit 2; }
done
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
done
mkdir -p "$out"
tag=$model-$shape-$dt-$output
here=$(dirname "$0")
"$ncu" --clock-control none --metrics gpu__time_duration.sum --csv \
  "$dist/runtime/bin/java" -cp "$bench/benchmarks.jar:$bench/lib/*:$dist/lib/*" org.zotune.bench.ProfileEncoderForward \
  "$model" "$shape" "$dt" "$output" 1 > "$out/zotune-$tag.csv" 2> "$out/zotune-$tag.err"
"$ncu" --clock-control none --metrics gpu__time_duration.sum --csv --profile-from-start off \
  python3 "$here/hf_encoder_forward.py" "$model" "$shape" "$dt" "$output" sdpa > "$out/hf-$tag.csv" 2> "$out/hf-$tag.err"
echo "## zotune, $tag (one eager forward)"
python3 "$here/../ncu_summary.py" "$out/zotune-$tag.csv" 30
echo "## Hugging Face sdpa, $tag (one forward)"
python3 "$here/../ncu_summary.py" "$out/hf-$tag.csv" 30
