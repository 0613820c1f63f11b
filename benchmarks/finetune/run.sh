#!/usr/bin/env bash
# Fine-tuning evidence on real data (benchmarks/RESULTS.md, "Fine-tuning evidence (CPU)" and "(GPU)").
#   ZOTUNE_DATA=path/to/shared/data benchmarks/finetune/run.sh [all|sweep|austen|sst2|report]
#   DEVICE=cuda ZOTUNE=dist/zotune ZOTUNE_DATA=... benchmarks/finetune/run.sh austen    # on a GPU host
# Variables:
#   DEVICE       cpu (default), cuda or auto: every zotune train and eval runs with --device DEVICE
#   ZOTUNE       the zotune launcher (default: ./zotune in the repository; dist/zotune for a bundle)
#   ZOTUNE_DATA  the shared data folder (datasets/janeausten, datasets/sst2-glue); default ../shared/data
#                relative to the repository root
#   WORK         work folder for excerpts and run folders (default: target/finetune in the repository)
#   LR_SGD, LR_ADAMU  learning rates of the final Jane Austen runs (default: the rates the sweep picked)
#   SST2_LR_SGD, SST2_LR_ADAMU  the same for SST-2 (default: the rates sweep-sst2 picked)
#   SEEDS, SST2_SEEDS seeds of the Jane Austen and SST-2 runs (default "1 2 3" and "1 2")
#   SWEEP_SGD, SWEEP_ADAMU, SST2_SWEEP_SGD, SST2_SWEEP_ADAMU  the learning rates of the sweeps
# Phases: sweep (Jane Austen lr sweep), austen, sweep-sst2 (SST-2 lr sweep), sst2; all = the four in order.
# Prints the tables (Markdown) at the end; run "report" alone to reprint them from WORK.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
data="${ZOTUNE_DATA:-$root/../shared/data}"
work="${WORK:-$root/target/finetune}"
lr_sgd="${LR_SGD:-3e-4}"
lr_adamu="${LR_ADAMU:-3e-4}"
seeds="${SEEDS:-1 2 3}"
sst2_seeds="${SST2_SEEDS:-1 2}"
sst2_lr_sgd="${SST2_LR_SGD:-3e-4}"
sst2_lr_adamu="${SST2_LR_ADAMU:-3e-4}"
sst2_sweep_sgd="${SST2_SWEEP_SGD:-1e-4 3e-4 1e-3}"
sst2_sweep_adamu="${SST2_SWEEP_ADAMU:-1e-4 3e-4 1e-3}"
sweep_sgd="${SWEEP_SGD:-1e-4 3e-4 6e-4 1e-3 3e-3}"
sweep_adamu="${SWEEP_ADAMU:-1e-4 3e-4 6e-4 1e-3}"
zotune="${ZOTUNE:-$root/zotune}"
case "$zotune" in /*) ;; *) zotune="$(pwd)/$zotune" ;; esac   # run.sh changes to the work folder below
device="${DEVICE:-cpu}"
case "$data" in /*) ;; *) data="$(pwd)/$data" ;; esac
case "$work" in /*) ;; *) work="$(pwd)/$work" ;; esac
what="${1:-all}"

ja="$data/datasets/janeausten"
for f in prideprejudice emma persuasion mansfieldpark; do
  [ -f "$ja/$f.txt" ] || { echo "run.sh: $ja/$f.txt not found (set ZOTUNE_DATA)" >&2; exit 1; }
done
[ -f "$data/datasets/sst2-glue/dev.tsv" ] || { echo "run.sh: $data/datasets/sst2-glue/dev.tsv not found" >&2; exit 1; }

mkdir -p "$work/austen" "$work/runs"
cd "$work"
# Bounded excerpts (line ranges of the shared files): train 1200 lines of each of Pride and Prejudice and Emma
# (124 KB, 1067 chunks of 64 tokens), held out 600 lines of Persuasion (34 KB, 296 chunks), sweep validation
# 300 lines of Mansfield Park (so that the learning rates are not tuned on the held-out novel).
sed -n '1,1200p' "$ja/prideprejudice.txt" > austen/pride.txt
sed -n '1,1200p' "$ja/emma.txt" > austen/emma.txt
sed -n '1,600p' "$ja/persuasion.txt" > austen/persuasion.txt
sed -n '1,300p' "$ja/mansfieldpark.txt" > austen/mansfield.txt
ln -sfn "$data/datasets/sst2-glue" sst2
# SST-2 sweep validation: the first 200 examples of GLUE's labelled test file (not the dev set reported)
head -201 sst2/test-labeled.tsv > sst2-val.tsv

# seconds between two `date +%s.%N` stamps (awk: the GPU host has no bc)
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# run NAME CONFIG ARGS...: one zotune train, its wall time appended to walls.tsv
run() {
  local name="$1" config="$2"; shift 2
  echo "== $name: zotune train --config $config $*" >&2
  local t0 t1
  t0=$(date +%s.%N)
  "$zotune" train --config "$config" --out "runs/$name" --overwrite --no-progress --device "$device" "$@" \
    > "runs/$name.log" 2>&1 \
    || { tail -5 "runs/$name.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  printf '%s\t%s\n' "$name" "$(elapsed "$t0" "$t1")" >> walls.tsv
  tail -1 "runs/$name.log" >&2
}

if [ "$what" = all ] || [ "$what" = sweep ]; then
  # lr sweep: 100 steps, seed 1, validation loss on Mansfield Park
  for lr in $sweep_sgd; do
    run "sweep-zo-sgd-$lr" "$here/austen.yaml" --optimizer zo-sgd --lr "$lr" --steps 100 --seed 1 \
      --set data.dev=austen/mansfield.txt
  done
  for lr in $sweep_adamu; do
    run "sweep-zo-adamu-$lr" "$here/austen.yaml" --optimizer zo-adamu --lr "$lr" --steps 100 --seed 1 \
      --set data.dev=austen/mansfield.txt
  done
fi
if [ "$what" = all ] || [ "$what" = austen ]; then
  for s in $seeds; do
    run "austen-zo-sgd-s$s" "$here/austen.yaml" --optimizer zo-sgd --lr "$lr_sgd" --seed "$s"
    run "austen-zo-adamu-s$s" "$here/austen.yaml" --optimizer zo-adamu --lr "$lr_adamu" --seed "$s"
  done
fi
if [ "$what" = all ] || [ "$what" = sweep-sst2 ]; then
  # lr sweep: 60 steps, seed 1, classification loss and accuracy on sst2-val.tsv; no test evaluation
  for lr in $sst2_sweep_sgd; do
    run "sweepsst2-zo-sgd-$lr" "$here/sst2.yaml" --optimizer zo-sgd --lr "$lr" --steps 60 --seed 1 \
      --set data.dev=sst2-val.tsv --set 'data.test=[]'
  done
  for lr in $sst2_sweep_adamu; do
    run "sweepsst2-zo-adamu-$lr" "$here/sst2.yaml" --optimizer zo-adamu --lr "$lr" --steps 60 --seed 1 \
      --set data.dev=sst2-val.tsv --set 'data.test=[]'
  done
fi
if [ "$what" = all ] || [ "$what" = sst2 ]; then
  # dev accuracy of the untouched model (the same for every run: it does not depend on the seed)
  t0=$(date +%s.%N)
  "$zotune" eval --model bundled --format sst2 --data sst2/dev.tsv --template sst2 --max-length 128 \
    --batch-size 16 --device "$device" > runs/sst2-before.log 2>&1 || { tail -5 runs/sst2-before.log >&2; exit 1; }
  printf '%s\t%s\n' sst2-before "$(elapsed "$t0" "$(date +%s.%N)")" >> walls.tsv
  tail -1 runs/sst2-before.log >&2
  for s in $sst2_seeds; do
    run "sst2-zo-sgd-s$s" "$here/sst2.yaml" --optimizer zo-sgd --lr "$sst2_lr_sgd" --seed "$s"
    run "sst2-zo-adamu-s$s" "$here/sst2.yaml" --optimizer zo-adamu --lr "$sst2_lr_adamu" --seed "$s"
  done
fi
python3 "$here/report.py" "$work"
