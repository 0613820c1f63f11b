#!/usr/bin/env bash
# End to end (issue 14 item 5): `zotune train` against the PyTorch peer's whole MeZO-style training loop, SST-2 prompt
# classification on a random-weight GPT-2 1.5B folder (bf16), 1,000 steps of 16 examples with the 872 dev examples
# evaluated before step 1 and every 250 steps, wall clock from launch to the final summary line, on the same GPU in
# one invocation; then StepBench's classification step at the same batch (16 examples x 2 candidates) for the
# trainer's overhead, and the table (report.py).
# Run from the repo root on a GPU host with the dist bundle (mvn -Pdist package), the built benchmarks
# (mvn install -DskipTests && mvn -f benchmarks/pom.xml package), python3 with torch, transformers and numpy:
#   benchmarks/e2e/run.sh [OUT_DIR]            (default benchmarks/out/e2e)
# OUT_DIR gets about 15 small files (logs, JSON lines, the zotune runs' metrics, table.md); where only a few files
# come back, pack it: benchmarks/e2e/run.sh /tmp/e2e && tar -czf RESULT/e2e.tgz -C /tmp e2e
# Phases, in this order (PHASES, comma-separated, default all five):
#   model      scripts/make_random_gpt2.py writes the model folder (numpy; seeded; kept when already complete)
#   zotune     dist/zotune train --config benchmarks/e2e/sst2.yaml (device cuda, bf16, zo-sgd in place)
#   stepbench  StepBench's sgd-inplace-graph-cls rows on gpt2-1558M bf16 at 32x128, 32x64 and 32x32 (16 examples)
#   tuned      peer_train.py --variant tuned (mezo_peer's tuned step, captured forwards per length bucket)
#   eager      peer_train.py --variant eager (MeZO's trainer)
#   zotune-eager (only when named) the zotune phase with -Dzotune.train.graph=false: every step eager, no graph
#              captures; tells what the captured step's graph captures (one per batch shape; the batches padded
#              to length buckets, key pad_multiple) cost
# Variables:
#   STEPS (1000), EVAL_EVERY (250), SIZE (1558M), SEED (1), LR (1e-6): the same for zotune and the peer
#   SAVE (1)        1: both write what a run writes (zotune always does: checkpoints at evaluations, best/, model/;
#                   the peer then saves the same, peer_train.py --save); 0: the peer saves nothing
#   BUDGET (570)    seconds for the whole invocation: no phase starts once less than its minimum is left, and each
#                   runs under `timeout` with what is left, so one 600 s device call always returns; phases cut
#                   this way are listed as skipped: run them in a second call (PHASES=model,eager) into another
#                   OUT_DIR and give report.py both folders
#   WORK (/tmp/zotune-e2e)  the model folder (3.1 GB) and the run folders: large files, kept out of OUT_DIR
#   KEEP (0)        1: keep the weights the runs wrote (zotune's checkpoint/, best/, model/ and the peer's saves,
#                   3.1 GB each) in WORK; 0: each is deleted after its phase (the model folder always stays)
#   ZOTUNE_DATA     the shared data folder (default: shared/data in the repo, else ../shared/data)
#   ZOTUNE_DIST, ZOTUNE_BENCH  the bundle and the built benchmarks (default dist, benchmarks/target)
#   PEER_OPTS       more peer_train.py options for both variants (e.g. --bucket 16)
#   DEVICE (cuda), MODEL_SHAPE (layers,hidden,heads,ffn, e.g. 2,64,4,256), ZOTUNE_DIST=. (the source launcher):
#                   DEVICE=cpu with a small MODEL_SHAPE, a short STEPS and ZOTUNE_DATA with a shortened dev.tsv runs
#                   the whole script on a machine without a GPU, a smoke test of its flow (times mean nothing)
#   ZOTUNE_JAVA_OPTS  passed on to dist/zotune (e.g. -Dzotune.noise=fast); StepBench gets the same options
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
out=${1:-benchmarks/out/e2e}
dist=${ZOTUNE_DIST:-dist}
bench=${ZOTUNE_BENCH:-benchmarks/target}
steps=${STEPS:-1000}
eval_every=${EVAL_EVERY:-250}
size=${SIZE:-1558M}
device=${DEVICE:-cuda}
shape=${MODEL_SHAPE:-}
seed=${SEED:-1}
lr=${LR:-1e-6}
save=${SAVE:-1}
keep=${KEEP:-0}
budget=${BUDGET:-570}
work=${WORK:-/tmp/zotune-e2e}
phases=",${PHASES:-model,zotune,stepbench,tuned,eager},"
if [ -n "${ZOTUNE_DATA:-}" ]; then data=$ZOTUNE_DATA
elif [ -d shared/data ]; then data=shared/data
else data=../shared/data; fi
case "$data" in /*) ;; *) data="$root/$data" ;; esac
case "$work" in /*) ;; *) work="$root/$work" ;; esac
sst2=$data/datasets/sst2-glue
bpe=$data/tokenizers/gpt2-bpe
model_args=(--size "$size")
model=$work/gpt2-$size-seed$seed
if [ -n "$shape" ]; then  # layers,hidden,heads,ffn: a custom (small) shape for a smoke test of this script
  IFS=, read -r ml mh mn mf <<< "$shape"
  model_args=(--layers "$ml" --hidden "$mh" --heads "$mn" --ffn "$mf")
  model=$work/gpt2-custom-$ml-$mh-$mn-$mf-seed$seed
fi

fail() { echo "run.sh: $*" >&2; exit 2; }
case "$steps$eval_every$seed" in *[!0-9]*) fail "STEPS, EVAL_EVERY and SEED must be whole numbers" ;; esac
[ "$steps" -gt 0 ] || fail "STEPS must be > 0"
for k in ${phases//,/ }; do
  case $k in model|zotune|zotune-eager|stepbench|tuned|eager) ;;
    *) fail "PHASES: unknown phase '$k' (model, zotune, zotune-eager, stepbench, tuned, eager)" ;; esac
done
for f in "$sst2/train.tsv" "$sst2/dev.tsv" "$bpe/encoder.json" "$bpe/vocab.bpe"; do
  [ -f "$f" ] || fail "$f not found (set ZOTUNE_DATA to the shared data folder)"
done
need_py=""
case $phases in *,model,*) need_py="numpy" ;; esac
case $phases in *,tuned,*|*,eager,*) need_py="$need_py torch transformers safetensors" ;; esac
for m in $need_py; do
  python3 -c "import $m" 2>/dev/null || fail "python3 has no $m (needed by the phases $phases)"
done
case $phases in *,zotune,*|*,zotune-eager,*) [ -x "$dist/zotune" ] || fail "$dist/zotune not found (mvn -Pdist package; ZOTUNE_DIST)" ;; esac
case $phases in *,stepbench,*) [ "$device" = cuda ] && [ -z "$shape" ] \
  || fail "the stepbench phase needs DEVICE=cuda and one of the SIZE presets (no MODEL_SHAPE)" ;; esac
case "$device" in cuda|cpu) ;; *) fail "DEVICE must be cuda or cpu" ;; esac
case $phases in *,stepbench,*) [ -f "$bench/benchmarks.jar" ] || fail "$bench/benchmarks.jar not found (ZOTUNE_BENCH)" ;; esac

mkdir -p "$out" "$work"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
done
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>/dev/null || true
date -u '+%Y-%m-%d %H:%M UTC' >> "$out/gpu.txt"
git rev-parse --short HEAD >> "$out/gpu.txt" 2>/dev/null || true

# Each phase's projected seconds (H100, GPT-2 1.5B bf16): per step the classification step of StepBench's rows and
# mezo_peer's (benchmarks/RESULTS.md) with room for zotune's graph recaptures on new row lengths, per evaluation the
# 872 examples plus the checkpoint and best/ writes (3.1 GB each), loading guessed. A phase starts only when its
# projection fits into what is left of BUDGET, so a phase is skipped rather than killed half way; the projection
# is printed first, so that a cut STEPS or a split PHASES can be chosen before the call. Nothing asserts it.
# evaluations: before step 1, every EVAL_EVERY steps, and after the last step when that is not one of them
evals=$(( eval_every > 0 ? 1 + steps / eval_every + (steps % eval_every > 0) : 2 ))
projected() {
  awk -v k="$1" -v s="$steps" -v e="$evals" 'BEGIN {
    n["model"] = 30; n["zotune"] = 30 + s * 0.05 + e * 8; n["stepbench"] = 60
    n["tuned"] = 25 + s * 0.06 + e * 7; n["eager"] = 25 + s * 0.18 + e * 7
    n["zotune-eager"] = 30 + s * 0.06 + e * 8
    printf "%d", n[k] + 0.5 }'
}
total=0
line=""
for k in model zotune zotune-eager stepbench tuned eager; do
  case $phases in *,"$k",*) p=$(projected "$k"); total=$((total + p)); line="$line $k ~${p}s" ;; esac
done
echo "run.sh: projected ~${total} s (${line# }) for STEPS=$steps with $evals evaluations; BUDGET ${budget} s" \
  | tee "$out/projection.txt"
if [ "$total" -gt "$budget" ]; then
  echo "run.sh: more than BUDGET: the phases that do not fit are skipped; run them in a second call (e.g." \
    "PHASES=model,eager) into another OUT_DIR and pass both folders to report.py" | tee -a "$out/projection.txt"
fi

start=$SECONDS
# phase NAME: true when the phase is asked for and its projection fits into what is left of the budget
phase() {
  case $phases in *,"$1",*) ;; *) return 1 ;; esac
  local left=$(( budget - (SECONDS - start) ))
  local need
  need=$(projected "$1")
  if [ "$left" -lt "$need" ]; then
    echo "{\"kind\":\"phase\",\"phase\":\"$1\",\"skipped\":true,\"reason\":\"budget: ${left}s left, projected ${need}s\"}" \
      | tee -a "$out/phases.jsonl"
    return 1
  fi
  limit=$(( left - 5 ))
  echo "== $1 (limit ${limit}s) ==" >&2
  return 0
}
# timed NAME CMD...: runs CMD under the phase's limit; its wall clock (launch to exit) into phases.jsonl
timed() {
  local name=$1; shift
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout "$limit" "$@"
  rc=$?
  t1=$(date +%s.%N)
  awk -v n="$name" -v a="$t0" -v b="$t1" -v rc="$rc" \
    'BEGIN { printf "{\"kind\":\"phase\",\"phase\":\"%s\",\"exit\":%d,\"wall_s\":%.3f}\n", n, rc, b - a }' \
    | tee -a "$out/phases.jsonl" >&2
  return "$rc"
}

if phase model; then
  timed model python3 scripts/make_random_gpt2.py --out "$model" --tokenizer "$bpe" "${model_args[@]}" --seed "$seed" \
    >> "$out/model.jsonl" || fail "the model folder could not be written"
  tail -1 "$out/model.jsonl"
fi
case $phases in *,zotune,*|*,zotune-eager,*|*,tuned,*|*,eager,*)
  [ -f "$model/.complete" ] || fail "$model is not a complete model folder (run the model phase)" ;;
esac

# ztrain PHASE [JVM OPTION]: one zotune train run into $work/PHASE-run, its small files copied to $out/PHASE-run
ztrain() {
  local name=$1 run=$work/$1-run
  # --overwrite: the run folder of an earlier invocation (a zotune run; nothing else is ever deleted)
  ZOTUNE_JAVA_OPTS="${ZOTUNE_JAVA_OPTS:-} ${2:-}" timed "$name" "$dist/zotune" train --config "$here/sst2.yaml" \
    --model "$model" --out "$run" --overwrite --no-progress --device "$device" --steps "$steps" --lr "$lr" \
    --seed "$seed" --set "eval_every=$eval_every" --set "data.train=$sst2/train.tsv" \
    --set "data.dev=$sst2/dev.tsv" > "$out/$name-train.log" 2>&1
  tail -3 "$out/$name-train.log"
  mkdir -p "$out/$name-run"
  for f in summary.json metrics.jsonl run.json; do
    if [ -f "$run/$f" ]; then cp "$run/$f" "$out/$name-run/"; fi
  done
  if [ "$keep" != 1 ]; then rm -rf "$run/checkpoint" "$run/best" "$run/model"; fi  # 3.1 GB each
}
if phase zotune; then ztrain zotune; fi
# diagnosis, not in the default PHASES: every step eager (-Dzotune.train.graph=false), no graph captures at all
if phase zotune-eager; then ztrain zotune-eager -Dzotune.train.graph=false; fi

if phase stepbench; then
  java=("$dist/runtime/bin/java" -Xmx16g -XX:MaxDirectMemorySize=4g ${ZOTUNE_JAVA_OPTS:-}
        -cp "$bench/benchmarks.jar:$bench/lib/*:$dist/lib/*")
  rm -f "$out/stepbench.jsonl"
  timed stepbench "${java[@]}" org.zotune.zo.cuda.StepBench --out "$out/stepbench.jsonl" --deadline $((limit - 25)) \
    --rows "gpt2-$size:bf16:32x128+32x64+32x32:sgd-inplace-graph-cls" --warmup 3 --steps 20 --reps 5 \
    > "$out/stepbench.log" 2>&1
  tail -3 "$out/stepbench.log"
fi

peer() {
  local v=$1
  local extra=()
  if [ "$save" = 1 ]; then
    rm -rf "$work/peer-$v-save"
    extra=(--save "$work/peer-$v-save")
  fi
  timed "peer-$v" python3 "$here/peer_train.py" --model "$model" --train "$sst2/train.tsv" --dev "$sst2/dev.tsv" \
    --variant "$v" --steps "$steps" --eval-every "$eval_every" --lr "$lr" --seed "$seed" --out "$out/peer.jsonl" \
    --device "$device" "${extra[@]}" ${PEER_OPTS:-} > "$out/peer-$v.log" 2>&1
  tail -2 "$out/peer-$v.log" | cut -c1-400
  if [ "$keep" != 1 ]; then rm -rf "$work/peer-$v-save"; fi
}
if phase tuned; then peer tuned; fi
if phase eager; then peer eager; fi

echo "run.sh: done in $((SECONDS - start)) s" >&2
python3 "$here/report.py" "$out" | tee "$out/table.md"
