#!/usr/bin/env bash
# Evidence on a real encoder, all-MiniLM-L6-v2 (issue 12.7, and issue 11.7's MiniLM rows): SST-2 with k = 16 and
# k = 512 per class, the methods below, each trained method's lr picked on the dev split with the first seed, then
# the other seeds at that lr; then the best label-similarity setting repeated on TREC (k = 16). Run on the GPU host
# after `mvn -B -q -Pdist package` (or with the dist bundle):
#   ZOTUNE=dist/zotune ZOTUNE_DATA=path/to/shared/data benchmarks/minilm/run.sh [WORK]   (default WORK = target/minilm)
# then: python3 benchmarks/minilm/report.py WORK  (Markdown tables for benchmarks/RESULTS.md)
# ZOTUNE: the zotune launcher (default ./zotune in the repository). The model must be at
# $ZOTUNE_DATA/models/all-MiniLM-L6-v2 (90 MB: see ../shared/CUDA-FROM-JAVA.md, "More than 64 MiB"), the data at
# $ZOTUNE_DATA/datasets. Each run is one `zotune train` with `--set` overrides of minilm.yaml; a run whose
# summary.json exists is not run again, so an interrupted invocation continues where it stopped.
#
# Data. k = 16: LM-BFF's SST-2 folders (seeds 13, 21, 42): train 16 per class, dev = the folder's 16 per class (picks
#   the lr), test = LM-BFF's SST-2 test.tsv, which is the 872 GLUE dev sentences (the reported number).
# k = 512: GLUE SST-2 train (67,349, mostly phrases of the training sentences; POOL512=glue, the default, as MeZO
#   samples) or the sentence-level SST-2 train (6,920 whole sentences, datasets/sst2-sentences; POOL512=sentences,
#   written as a GLUE-style TSV into WORK): 1,024 per class drawn with data.seed, of which data.splits takes 1,024
#   for train and 1,024 for dev (disjoint; about, not exactly, 512 per class each: LM-BFF's generator balances them
#   exactly), test = the 872 GLUE dev sentences (whole sentences in either case).
# TREC: LM-BFF's trec folders (k = 16 per class, 6 classes), test = its 500 test questions.
# Methods: zero-shot label similarity (the evaluations before step 1 of a run with lr 0); linear probe (probe.py:
#   logistic regression on zotune's mean-pooled embeddings of the frozen model, L2 strength picked on dev); ZO-SGD
#   and ZO-AdaMU full fine-tuning with the classification head (objective head); ZO-SGD and ZO-AdaMU with label
#   similarity, full, LoRA (r 8, alpha 16, q and v) and prefix (5 tokens) for k = 16 (issue 11's comparison); the
#   head beside LoRA or a prefix (the classifier trained in full, PEFT's SEQ_CLS modules_to_save) for k = 16.
# Variables: SEEDS ["13 21 42"] (the first picks the lr), STEPS16 [1000], STEPS512 [4000], PARALLEL [6] runs at a
#   time (MiniLM leaves the GPU mostly idle), LONG512 [0]: when larger than STEPS512, every seed of each k = 512
#   method also trains LONG512 steps at the rate its STEPS512 sweep picked (method name suffix -long), the grids
#   SGD_LRS, ADAMU_LRS, PEFT_SGD_LRS, PEFT_ADAMU_LRS, LPFT_LRS, POOL512 [glue] (above), and PHASES ["sweep seeds trec
#   probe"], KS ["16 512"] and METHODS [all of methods() below] to run a part.
# Phase lpft (not in the default PHASES; k = 512 only): LP-FT, lpft.py's logistic-regression probe on the frozen
#   model's mean-pooled embeddings written as the head of a model folder, then objective head (full) from it with
#   ZO-SGD and ZO-AdaMU (LPFT_OPTIMIZERS ["sgd adamu"]) at every rate of LPFT_LRS ["1e-6 1e-5 1e-4"] and every
#   seed. Its train and dev files are lpft.py's draw (numpy's, the one probe.py and backprop_ceiling.py make), not
#   data.seed's, so the probe and the runs after it see the same 1,024 + 1,024 sentences. LPFT_TASK [sst2] or one of
#   LM-BFF's binary single-sentence tasks mr, cr, mpqa, subj (runs named <task>512-..., test = LM-BFF's test set).
set -euo pipefail
WORK=${1:-target/minilm}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/benchmarks/minilm"
DATA=${ZOTUNE_DATA:-$ROOT/../shared/data}
MODEL=$DATA/models/all-MiniLM-L6-v2
ZOTUNE=${ZOTUNE:-$ROOT/zotune}
SEEDS=${SEEDS:-"13 21 42"}
FIRST=${SEEDS%% *}
STEPS16=${STEPS16:-1000}
STEPS512=${STEPS512:-4000}
LONG512=${LONG512:-0}
PARALLEL=${PARALLEL:-6}
PHASES=${PHASES:-"sweep seeds trec probe"}
export POOL512=${POOL512:-glue}  # probe.py reads it too
KS=${KS:-"16 512"}
# lr grids (MeZO's for ZO-SGD on RoBERTa: 1e-7..1e-6 at k = 16; MiniLM is smaller: a wider grid)
SGD_LRS=${SGD_LRS:-"1e-6 1e-5 1e-4"}
ADAMU_LRS=${ADAMU_LRS:-"1e-5 1e-4 1e-3"}
PEFT_SGD_LRS=${PEFT_SGD_LRS:-"1e-4 1e-3 1e-2"}
PEFT_ADAMU_LRS=${PEFT_ADAMU_LRS:-"1e-4 1e-3 1e-2"}
LPFT_LRS=${LPFT_LRS:-"1e-6 1e-5 1e-4"}
LPFT_OPTIMIZERS=${LPFT_OPTIMIZERS:-"sgd adamu"}
LPFT_TASK=${LPFT_TASK:-sst2}
[ -f "$MODEL/model.safetensors" ] || { echo "run.sh: $MODEL/model.safetensors not found (set ZOTUNE_DATA)" >&2; exit 1; }
[ -x "$ZOTUNE" ] || { echo "run.sh: zotune launcher $ZOTUNE not found (set ZOTUNE)" >&2; exit 1; }
mkdir -p "$WORK/runs"
case $POOL512 in
  glue) POOL=$DATA/datasets/sst2-glue/train.tsv ;;
  sentences) POOL=$WORK/sst2-sentences-train.tsv # "label sentence" lines as sentence<TAB>label under a header
    { printf 'sentence\tlabel\n'; sed -E 's/^([01]) (.*)$/\2\t\1/' "$DATA/datasets/sst2-sentences/stsa.binary.train"; } > "$POOL" ;;
  *) echo "run.sh: POOL512 must be glue or sentences, not $POOL512" >&2; exit 2 ;;
esac
printf '{"seeds":"%s","steps16":%s,"steps512":%s,"long512":%s,"pool512":"%s","ks":"%s","methods":"%s","phases":"%s","grids":{"sgd":"%s","adamu":"%s","peft_sgd":"%s","peft_adamu":"%s"}}\n' \
  "$SEEDS" "$STEPS16" "$STEPS512" "$LONG512" "$POOL512" "$KS" "${METHODS:-all}" "$PHASES" "$SGD_LRS" "$ADAMU_LRS" \
  "$PEFT_SGD_LRS" "$PEFT_ADAMU_LRS" > "$WORK/plan.json"

train() { # name, then overrides: one zotune train (skipped when done), its wall time in walls.tsv
  local name=$1; shift
  if [ -f "$WORK/runs/$name/summary.json" ]; then return 0; fi
  local t0=$(date +%s.%N)
  if "$ZOTUNE" train --config "$HERE/minilm.yaml" --model "${RUN_MODEL:-$MODEL}" --out "$WORK/runs/$name" --overwrite \
      --no-progress "$@" > "$WORK/runs/$name.log" 2>&1; then
    echo -e "$name\t$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >> "$WORK/walls.tsv"
    echo "done $name"
  else
    echo "FAILED $name: $(tail -1 "$WORK/runs/$name.log")"
  fi
}
spawn() { # train in the background, at most PARALLEL at a time
  while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n || true; done
  train "$@" &
}

data() { # k seed
  if [ "$1" = 16 ]; then
    echo --set data.format=kshot --set data.task=SST-2 --set data.k_shot=16 --set data.seed=$2 \
         --set "data.train=$DATA/datasets/lm-bff-k-shot" --set "data.dev=$DATA/datasets/lm-bff-k-shot" \
         --set "data.test=$DATA/datasets/lm-bff-k-shot"
  else
    echo --set data.format=sst2 --set data.k_shot=1024 --set data.seed=$2 \
         --set "data.train=$POOL" --set "data.test=$DATA/datasets/sst2-glue/dev.tsv" \
         --set data.splits.train=1024 --set data.splits.dev=1024 --set data.splits.test=872
  fi
}
steps() { [ "$1" = 16 ] && echo "$STEPS16" || echo "$STEPS512"; }
peft() { # method
  case $1 in
    full) ;;
    lora) echo --set peft.method=lora --set peft.r=8 --set peft.alpha=16 ;;
    prefix) echo --set peft.method=prefix --set peft.tokens=5 ;;
  esac
}
# the trained methods: name objective optimizer peft ks lrs
methods() {
  all_methods | while read -r name rest; do
    if [ -z "${METHODS:-}" ] || [[ " $METHODS " == *" $name "* ]]; then echo "$name $rest"; fi
  done
}
all_methods() {
  echo "head-sgd head zo-sgd full 16,512 $SGD_LRS"
  echo "head-adamu head zo-adamu full 16,512 $ADAMU_LRS"
  echo "similarity-sgd similarity zo-sgd full 16,512 $SGD_LRS"
  echo "similarity-adamu similarity zo-adamu full 16,512 $ADAMU_LRS"
  echo "similarity-lora-sgd similarity zo-sgd lora 16 $PEFT_SGD_LRS"
  echo "similarity-lora-adamu similarity zo-adamu lora 16 $PEFT_ADAMU_LRS"
  echo "similarity-prefix-sgd similarity zo-sgd prefix 16 $PEFT_SGD_LRS"
  echo "similarity-prefix-adamu similarity zo-adamu prefix 16 $PEFT_ADAMU_LRS"
  echo "head-lora-sgd head zo-sgd lora 16 $PEFT_SGD_LRS"
  echo "head-lora-adamu head zo-adamu lora 16 $PEFT_ADAMU_LRS"
  echo "head-prefix-sgd head zo-sgd prefix 16 $PEFT_SGD_LRS"
  echo "head-prefix-adamu head zo-adamu prefix 16 $PEFT_ADAMU_LRS"
}
run_method() { # k name objective optimizer peft lr seed
  local k=$1 name=$2 obj=$3 opt=$4 pm=$5 lr=$6 seed=$7
  spawn "k$k-$name-lr$lr-s$seed" $(data $k $seed) --set objective=$obj $(peft $pm) --optimizer $opt --lr $lr \
      --steps "$(steps $k)" --seed $seed
}

t0=$SECONDS
for phase in $PHASES; do
  case $phase in
    sweep) # zero-shot for every seed, every method's grid with the first seed
      for k in $KS; do
        for seed in $SEEDS; do
          spawn "k$k-zeroshot-s$seed" $(data $k $seed) --set objective=similarity --steps 1 --lr 0 --seed $seed
        done
        while read -r name obj opt pm ks lrs; do
          case ",$ks," in *",$k,"*) ;; *) continue ;; esac
          for lr in $lrs; do run_method $k $name $obj $opt $pm $lr $FIRST; done
        done < <(methods)
      done
      wait ;;
    seeds) # the other seeds at the lr the first seed picked on dev
      for k in $KS; do
        while read -r name obj opt pm ks lrs; do
          case ",$ks," in *",$k,"*) ;; *) continue ;; esac
          lr=$(python3 "$HERE/report.py" "$WORK" --choose "k$k-$name") || continue
          for seed in $SEEDS; do [ "$seed" = "$FIRST" ] || run_method $k $name $obj $opt $pm $lr $seed; done
          if [ "$k" = 512 ] && [ "$LONG512" -gt "$STEPS512" ]; then # every seed again, longer, at the picked lr
            for seed in $SEEDS; do
              spawn "k512-$name-long-lr$lr-s$seed" $(data 512 $seed) --set objective=$obj $(peft $pm) --optimizer $opt \
                  --lr $lr --steps "$LONG512" --seed $seed
            done
          fi
        done < <(methods)
      done
      wait ;;
    trec) # the best k = 16 label-similarity setting (by mean dev accuracy over seeds) on TREC
      best=$(python3 "$HERE/report.py" "$WORK" --best 16 similarity) || { echo "trec: no finished SST-2 runs"; continue; }
      read -r name lr <<< "$best"
      while read -r n obj opt pm ks lrs; do
        [ "$n" = "$name" ] || continue
        for seed in $SEEDS; do
          spawn "trec-$name-lr$lr-s$seed" --set data.format=kshot --set data.task=trec --set data.k_shot=16 \
              --set data.seed=$seed --set "data.train=$DATA/datasets/lm-bff-k-shot" \
              --set "data.dev=$DATA/datasets/lm-bff-k-shot" --set "data.test=$DATA/datasets/lm-bff-k-shot" \
              --set data.template=trec --set objective=$obj $(peft $pm) --optimizer $opt --lr $lr \
              --steps "$STEPS16" --seed $seed
          spawn "trec-zeroshot-s$seed" --set data.format=kshot --set data.task=trec --set data.k_shot=16 \
              --set data.seed=$seed --set "data.train=$DATA/datasets/lm-bff-k-shot" \
              --set "data.dev=$DATA/datasets/lm-bff-k-shot" --set "data.test=$DATA/datasets/lm-bff-k-shot" \
              --set data.template=trec --set objective=similarity --steps 1 --lr 0 --seed $seed
        done
      done < <(methods)
      wait ;;
    probe)
      python3 "$HERE/probe.py" "$WORK" || echo "probe: FAILED" ;;
    lpft) # k = 512: objective head (full) from lpft.py's linear probe on the same train/dev files, every seed at every
      # rate of LPFT_LRS for ZO-SGD and ZO-AdaMU (report.py averages the seeds at the rate the first seed picked)
      LPFT_TASK=$LPFT_TASK python3 "$HERE/lpft.py" "$WORK" || { echo "lpft: FAILED"; continue; }
      if [ "$LPFT_TASK" = sst2 ]; then name=k512 test=$DATA/datasets/sst2-glue/dev.tsv
      else name=${LPFT_TASK}512 test=$WORK/lpft/test.tsv; fi
      for seed in $SEEDS; do
        d=$WORK/lpft/s$seed
        for opt in $LPFT_OPTIMIZERS; do
          for lr in $LPFT_LRS; do
            RUN_MODEL=$d/model spawn "$name-head-lpft-$opt-lr$lr-s$seed" --set data.format=sst2 --set data.k_shot=0 \
                --set "data.train=$d/train.tsv" --set "data.dev=$d/dev.tsv" \
                --set "data.test=$test" --set objective=head --optimizer zo-$opt \
                --lr $lr --steps "$STEPS512" --seed $seed
          done
        done
      done
      wait ;;
    *) echo "run.sh: unknown phase $phase (sweep seeds trec probe lpft)" >&2; exit 2 ;;
  esac
  echo "phase $phase done after $((SECONDS - t0)) s"
done
echo "report: python3 $HERE/report.py $WORK"
