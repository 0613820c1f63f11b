#!/usr/bin/env bash
# Issue 12.7's evidence runs: all-MiniLM-L6-v2 on SST-2 (k = 16 and k = 512 per class), the methods of the issue, an
# lr grid per method, 3 seeds. Run on the GPU host after `mvn -B -q package`:
#   ZOTUNE=dist/zotune ZOTUNE_DATA=path/to/shared/data benchmarks/minilm/run.sh [WORK]   (default WORK = target/minilm)
# ZOTUNE: the zotune launcher (default ./zotune in the repository).
# then: python3 benchmarks/minilm/report.py WORK  (Markdown tables for benchmarks/RESULTS.md)
# The model must be at ../shared/data/models/all-MiniLM-L6-v2 (90 MB: see ../shared/CUDA-FROM-JAVA.md, "More than
# 64 MiB"), the data at ../shared/data/datasets. Each run is one `zotune train` with `--set` overrides of minilm.yaml.
#
# Data. k = 16: LM-BFF's SST-2 folders (seeds 13, 21, 42): train 16 per class, dev = the folder's 16 per class (picks
#   the lr), test = LM-BFF's SST-2 test.tsv, which is the 872 GLUE dev sentences (the reported number).
# k = 512: GLUE SST-2 train (67,349): 1,024 per class drawn with data.seed, of which data.splits takes 1,024 for
#   train and 1,024 for dev (disjoint; about, not exactly, 512 per class each: LM-BFF's generator balances them
#   exactly), test = the 872 GLUE dev sentences.
# Methods: zero-shot label similarity (initial dev/test of a run with lr 0), linear probe (objective head,
#   head.linear_probe: true; the CPU engine trains a part of the weights, so these runs use --device cpu), ZO-SGD and
#   ZO-AdaMU full fine-tuning with the head, ZO-SGD and ZO-AdaMU with label similarity.
set -euo pipefail
WORK=${1:-target/minilm}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${ZOTUNE_DATA:-$ROOT/../shared/data}
MODEL=$DATA/models/all-MiniLM-L6-v2
ZOTUNE=${ZOTUNE:-$ROOT/zotune}
mkdir -p "$WORK/runs"
SEEDS=${SEEDS:-"13 21 42"}
STEPS16=${STEPS16:-1000}
STEPS512=${STEPS512:-4000}
# lr grids (MeZO's for ZO-SGD on RoBERTa: 1e-7..1e-6 at k = 16; MiniLM is smaller: a wider grid)
SGD_LRS=${SGD_LRS:-"1e-6 1e-5 1e-4"}
ADAMU_LRS=${ADAMU_LRS:-"1e-5 1e-4 1e-3"}
PROBE_LRS=${PROBE_LRS:-"1e-3 1e-2"}

train() { # name, then overrides
  local name=$1; shift
  if [ -f "$WORK/runs/$name/summary.json" ]; then return 0; fi
  local t0=$(date +%s)
  "$ZOTUNE" train --config "$ROOT/benchmarks/minilm/minilm.yaml" --model "$MODEL" \
      --out "$WORK/runs/$name" --overwrite --no-progress "$@" > "$WORK/runs/$name.log" 2>&1 || {
        echo "FAILED $name (see $WORK/runs/$name.log)"; return 0; }
  echo -e "$name\t$(( $(date +%s) - t0 ))" >> "$WORK/walls.tsv"
  echo "done $name"
}

data16() { # seed
  echo --set data.format=kshot --set data.task=SST-2 --set data.k_shot=16 --set data.seed=$1 \
       --set "data.train=$DATA/datasets/lm-bff-k-shot" --set "data.dev=$DATA/datasets/lm-bff-k-shot" \
       --set "data.test=$DATA/datasets/lm-bff-k-shot"
}
data512() { # seed
  echo --set data.format=sst2 --set data.k_shot=1024 --set data.seed=$1 \
       --set "data.train=$DATA/datasets/sst2-glue/train.tsv" --set "data.test=$DATA/datasets/sst2-glue/dev.tsv" \
       --set "data.splits={train: 1024, dev: 1024, test: 872}"
}

for k in 16 512; do
  steps=$([ $k = 16 ] && echo $STEPS16 || echo $STEPS512)
  for seed in $SEEDS; do
    d=$([ $k = 16 ] && data16 $seed || data512 $seed)
    # zero-shot: the evaluations before step 1 (lr 0, one step)
    train "k$k-zeroshot-s$seed" $d --set objective=similarity --steps 1 --lr 0 --seed $seed
    for lr in $PROBE_LRS; do
      train "k$k-probe-lr$lr-s$seed" $d --set objective=head --set head.linear_probe=true --optimizer zo-adam \
          --lr $lr --steps $steps --seed $seed --device cpu
    done
    for obj in head similarity; do
      for lr in $SGD_LRS; do
        train "k$k-$obj-sgd-lr$lr-s$seed" $d --set objective=$obj --optimizer zo-sgd --lr $lr --steps $steps \
            --seed $seed
      done
      for lr in $ADAMU_LRS; do
        train "k$k-$obj-adamu-lr$lr-s$seed" $d --set objective=$obj --optimizer zo-adamu --lr $lr --steps $steps \
            --seed $seed
      done
    done
  done
done
echo "report: python3 $ROOT/benchmarks/minilm/report.py $WORK"
