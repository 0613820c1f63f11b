#!/usr/bin/env bash
# Full fine-tuning vs LoRA vs prefix tuning at the same number of forward passes (issue 11, item 7):
# stories260K on Jane Austen (causal LM) and SST-2 prompt classification, ZO-SGD and ZO-AdaMU, 3 seeds, each
# method's learning rate chosen on a dev split from a stated grid.
#   ZOTUNE_DATA=path/to/shared/data benchmarks/finetune/lora_prefix.sh [all|austen|sst2|report] [cpu|cuda]
# Per task, method (full, lora, prefix) and optimiser: every rate of the method's grid with seed 1 (the sweep),
# the rate with the best dev score picked (Jane Austen: lowest dev loss; SST-2: highest dev accuracy, then lowest
# dev loss), then seeds 2 and 3 at that rate. Every run evaluates dev and test, so seed 1's final numbers are its
# sweep run at the picked rate (the same command a separate run would be); the test split never picks anything.
# Splits: Jane Austen train = run.sh's excerpts of Pride and Prejudice + Emma, dev = the Mansfield Park excerpt,
# test = the Persuasion excerpt; SST-2 train = k-shot from GLUE train, dev = the first 200 examples of GLUE's
# labelled test file, test = GLUE dev (872 examples, or its first SST2_TEST_N).
# Variables (defaults in brackets):
#   DEVICE [cpu]  (or the second argument) cpu, cuda or auto: --device of every run
#   ZOTUNE [./zotune], ZOTUNE_DATA [../shared/data], WORK [target/finetune-peft]  as in run.sh
#   SEEDS ["1 2 3"]  the first seed runs the sweep
#   AUSTEN_STEPS [200], SST2_STEPS [150]  steps of every run of a task (2 forward passes each, q = 1)
#   SST2_K [512]  training examples per class; SST2_TEST_N [all]  test examples kept (the first N of GLUE dev)
#   LR_FULL ["1e-4 3e-4 1e-3"], LR_LORA ["1e-3 3e-3 1e-2"], LR_PREFIX ["1e-3 3e-3 1e-2 3e-2"]  the grids
#   LORA ["r=8 alpha=16"] (targets q, v), PREFIX_TOKENS [5]
#   OPTIMIZERS ["zo-sgd zo-adamu"], METHODS ["full lora prefix"]
# Prints the tables (Markdown, lora_prefix_report.py) at the end; "report" alone reprints them from WORK.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
what="${1:-all}"
device="${2:-${DEVICE:-cpu}}"
case "$what" in all|austen|sst2|report) ;; *)
  echo "lora_prefix.sh: unknown phase '$what' (all, austen, sst2, report)" >&2; exit 2 ;; esac
case "$device" in cpu|cuda|auto) ;; *)
  echo "lora_prefix.sh: unknown device '$device' (cpu, cuda, auto)" >&2; exit 2 ;; esac
data="${ZOTUNE_DATA:-$root/../shared/data}"
work="${WORK:-$root/target/finetune-peft}"
zotune="${ZOTUNE:-$root/zotune}"
case "$zotune" in /*) ;; *) zotune="$(pwd)/$zotune" ;; esac   # the runs change to the work folder below
case "$data" in /*) ;; *) data="$(pwd)/$data" ;; esac
case "$work" in /*) ;; *) work="$(pwd)/$work" ;; esac
seeds="${SEEDS:-1 2 3}"
austen_steps="${AUSTEN_STEPS:-200}"
sst2_steps="${SST2_STEPS:-150}"
sst2_k="${SST2_K:-512}"
sst2_test_n="${SST2_TEST_N:-all}"
lr_full="${LR_FULL:-1e-4 3e-4 1e-3}"
lr_lora="${LR_LORA:-1e-3 3e-3 1e-2}"
lr_prefix="${LR_PREFIX:-1e-3 3e-3 1e-2 3e-2}"
lora_r=8; lora_alpha=16
for kv in ${LORA:-r=8 alpha=16}; do
  case "$kv" in r=*) lora_r="${kv#r=}" ;; alpha=*) lora_alpha="${kv#alpha=}" ;;
    *) echo "lora_prefix.sh: LORA: unknown entry '$kv' (r=N alpha=X)" >&2; exit 2 ;; esac
done
prefix_tokens="${PREFIX_TOKENS:-5}"
optimizers="${OPTIMIZERS:-zo-sgd zo-adamu}"
methods="${METHODS:-full lora prefix}"
first_seed="${seeds%% *}"
command -v python3 >/dev/null || { echo "lora_prefix.sh: python3 is needed for the rate choice and tables" >&2; exit 1; }
[ -x "$zotune" ] || { echo "lora_prefix.sh: zotune launcher $zotune not found (set ZOTUNE)" >&2; exit 1; }

mkdir -p "$work/runs" "$work/austen"
cd "$work"
if [ "$what" != report ]; then
  ja="$data/datasets/janeausten"
  for f in prideprejudice emma persuasion mansfieldpark; do
    [ -f "$ja/$f.txt" ] || { echo "lora_prefix.sh: $ja/$f.txt not found (set ZOTUNE_DATA)" >&2; exit 1; }
  done
  for f in train.tsv dev.tsv test-labeled.tsv; do
    [ -f "$data/datasets/sst2-glue/$f" ] || { echo "lora_prefix.sh: $data/datasets/sst2-glue/$f not found" >&2; exit 1; }
  done
  # the excerpts of run.sh (same line ranges)
  sed -n '1,1200p' "$ja/prideprejudice.txt" > austen/pride.txt
  sed -n '1,1200p' "$ja/emma.txt" > austen/emma.txt
  sed -n '1,600p' "$ja/persuasion.txt" > austen/persuasion.txt
  sed -n '1,300p' "$ja/mansfieldpark.txt" > austen/mansfield.txt
  ln -sfn "$data/datasets/sst2-glue" sst2
  head -201 sst2/test-labeled.tsv > sst2-val.tsv
  if [ "$sst2_test_n" = all ]; then cp sst2/dev.tsv sst2-test.tsv; else head -$((sst2_test_n + 1)) sst2/dev.tsv > sst2-test.tsv; fi
  # what the tables say about the runs
  printf '{"device":"%s","seeds":"%s","austen_steps":%s,"sst2_steps":%s,"sst2_k":%s,"sst2_test_n":"%s",'\
'"grid":{"full":"%s","lora":"%s","prefix":"%s"},"lora_r":%s,"lora_alpha":%s,"prefix_tokens":%s}\n' \
    "$device" "$seeds" "$austen_steps" "$sst2_steps" "$sst2_k" "$sst2_test_n" "$lr_full" "$lr_lora" "$lr_prefix" \
    "$lora_r" "$lora_alpha" "$prefix_tokens" > plan.json
fi

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# run NAME CONFIG ARGS...: one zotune train, its wall time appended to walls.tsv
run() {
  local name="$1" config="$2"; shift 2
  echo "== $name: zotune train --config $config $*" >&2
  local t0 t1
  t0=$(date +%s.%N)
  "$zotune" train --config "$config" --out "runs/$name" --overwrite --no-progress --device "$device" "$@" \
    > "runs/$name.log" 2>&1 || { tail -5 "runs/$name.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  printf '%s\t%s\n' "$name" "$(elapsed "$t0" "$t1")" >> walls.tsv
}

# the peft flags of a method
peft() {
  case "$1" in
    full) echo "--set peft.method=full" ;;
    lora) echo "--set peft.method=lora --set peft.r=$lora_r --set peft.alpha=$lora_alpha" ;;
    prefix) echo "--set peft.method=prefix --set peft.tokens=$prefix_tokens" ;;
    *) echo "lora_prefix.sh: unknown method '$1' (full, lora, prefix)" >&2; exit 2 ;;
  esac
}
grid() {
  case "$1" in full) echo "$lr_full" ;; lora) echo "$lr_lora" ;; prefix) echo "$lr_prefix" ;; esac
}

# task TASK CONFIG ARGS...: the sweep, the choice and the other seeds of every method x optimiser of one task
task() {
  local t="$1" config="$2"; shift 2
  local m o lr s best
  for m in $methods; do
    for o in $optimizers; do
      for lr in $(grid "$m"); do
        # shellcheck disable=SC2046  # peft's flags are words
        run "$t-$m-$o-lr$lr-s$first_seed" "$config" --optimizer "$o" --lr "$lr" --seed "$first_seed" \
          $(peft "$m") "$@"
      done
      best=$(python3 "$here/lora_prefix_report.py" "$work" --choose "$t" "$m" "$o")
      echo "== $t $m $o: lr $best chosen on dev" >&2
      for s in $seeds; do
        [ "$s" = "$first_seed" ] && continue
        # shellcheck disable=SC2046
        run "$t-$m-$o-lr$best-s$s" "$config" --optimizer "$o" --lr "$best" --seed "$s" $(peft "$m") "$@"
      done
    done
  done
}

if [ "$what" = all ] || [ "$what" = austen ]; then
  task austen "$here/austen.yaml" --steps "$austen_steps" --set data.dev=austen/mansfield.txt \
    --set 'data.test=[austen/persuasion.txt]'
fi
if [ "$what" = all ] || [ "$what" = sst2 ]; then
  task sst2 "$here/sst2.yaml" --steps "$sst2_steps" --set data.dev=sst2-val.tsv --set 'data.test=[sst2-test.tsv]' \
    --set data.k_shot="$sst2_k"
fi
python3 "$here/lora_prefix_report.py" "$work"
