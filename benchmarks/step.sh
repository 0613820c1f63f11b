#!/usr/bin/env bash
# zotune's zeroth-order step against MeZO-style PyTorch (benchmarks/peer/mezo_peer.py, eager and tuned) on the
# same GPU in one invocation, then the RESULTS.md tables and a plot (benchmarks/report_step.py).
# Run from the repo root on a GPU host that has the dist bundle (mvn -Pdist package) and the built benchmarks
# (mvn install -DskipTests && mvn -f benchmarks/pom.xml package):
#   benchmarks/step.sh [--quick | --full | --largest] [OUT_DIR]
#     --quick    GPT-2 124M and OPT-1.3B shapes, bf16, batch 16x128, every zotune variant, a short JMH run of
#                ZoStepBenchmark, and an ncu per-kernel profile of one eager ZO-SGD step of GPT-2 1.5B (~4 minutes)
#     --full     (default) GPT-2 124M-1.5B at 16x128 and 16x512 in bf16 and fp16 (fp32 for 124M and 355M),
#                OPT-style 1.3B, 2.7B, 6.7B in bf16 at 16x128, then the largest-model rows (~9 minutes)
#     --largest  only the largest-model rows: OPT-30B's shape and a ~39B OPT-style shape, bf16, 16x128 (and
#                4x128 for the ~39B one)
#     --rest     the rows that --full's phase deadlines cut within one 10-minute device call (fp16 at 16x512, zotune
#                fp32 355M), with their own rate measurements, for a second call, and ZO-AdaMU with bf16 momentum
#                against ZO-SGD on gpt2-xl bf16 16x128 (~7 minutes)
#     --cls      the step of SST-2 prompt classification (8 examples x 2 one-token candidates = 16 rows of 128) on
#                GPT-2 1.5B's shape, bf16, next to the lm step at the same batch shape: the captured step with the
#                device loss (-cls graph), the eager step with the host forming g (-cls eager), lm graph (~2 minutes)
#     --lora     the LoRA ZO step (r = 8, alpha = 16, targets q, v; base bf16, adapters float32) on GPT-2 1.5B's shape at
#                16x128 and 16x512: zotune's StepBench --lora 8 with both --lora-path merge and skinny (ZO-SGD in place
#                and shadow, ZO-AdaMU in place, graph) against the MeZO-LoRA peer (mezo_peer.py --lora 8: peft on
#                c_attn, eager and tuned) and the peer's inference forward on the bare base (the memory reference);
#                needs peft in python3 (~6 minutes)
#     --encoder  the ZO step of RoBERTa-large's shape with the masked-LM prompt objective (issue 12.8; MeZO's SST-2
#                prompt: one mask per row, two label words, full-length rows) at 32x128 and 32x64, bf16 and fp32:
#                zotune's StepBench -mlm variants (ZO-SGD in place and shadow, ZO-AdaMU in place, graph; ZO-SGD eager)
#                against the MeZO-style peer (mezo_peer.py on RobertaForMaskedLM, MeZO's prompt loss; eager and tuned)
#                (~5 minutes)
# The report prints two floors per row: the step's GEMMs at the 8192^3 cuBLAS rate, and cuBLAS's own time for the
# forward's GEMMs at their real shapes (mezo_peer.py --rates / --gemms measures these before building any model).
# Each phase has a time limit and its program a deadline after which it starts no new row, so the whole run
# ends in time; rows not run are listed as skipped. ZOTUNE_DIST / ZOTUNE_BENCH: where the bundle and the built
# benchmarks are (default dist, benchmarks/target).
set -uo pipefail
mode=full
out=benchmarks/out/step
for a in "$@"; do
  case "$a" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --largest) mode=largest ;;
    --rest) mode=rest ;;
    --cls) mode=cls ;;
    --lora) mode=lora ;;
    --encoder) mode=encoder ;;
    -*) echo "step.sh: unknown option $a (--quick, --full, --largest, --rest, --cls, --lora, --encoder)" >&2; exit 2 ;;
    *) out=$a ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
dist=${ZOTUNE_DIST:-dist}
bench=${ZOTUNE_BENCH:-benchmarks/target}
mkdir -p "$out"
rm -f "$out/peer.jsonl" "$out/zotune.jsonl"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
done
export PYTHONUNBUFFERED=1
# zotune's noise variant (NOISE: fast, the CUDA default of `zotune train` since key noise, or exact, the default
# of the rows measured before 2026-12-06)
noise=${NOISE:-fast}
java=("$dist/runtime/bin/java" -Xmx16g -XX:MaxDirectMemorySize=4g "-Dzotune.noise=$noise"
  -cp "$bench/benchmarks.jar:$bench/lib/*:$dist/lib/*")
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>/dev/null || true
date -u '+%Y-%m-%d %H:%M UTC' >> "$out/gpu.txt"
echo "zotune noise: $noise" >> "$out/gpu.txt"

# peer LIMIT_S ARGS...: the PyTorch peer; zot LIMIT_S ARGS...: zotune's StepBench. Deadline = limit - 30 s.
peer() {
  local limit=$1; shift
  timeout "$limit" python3 "$here/peer/mezo_peer.py" --out "$out/peer.jsonl" --deadline $((limit - 30)) "$@" \
    2>&1 | tee -a "$out/peer.log"
  echo "peer phase: exit ${PIPESTATUS[0]} after ${SECONDS}s" | tee -a "$out/peer.log"
}
zot() {
  local limit=$1; shift
  timeout "$limit" "${java[@]}" org.zotune.zo.cuda.StepBench --out "$out/zotune.jsonl" --deadline $((limit - 30)) "$@" \
    2>&1 | tee -a "$out/zotune.log"
  echo "zotune phase: exit ${PIPESTATUS[0]} after ${SECONDS}s" | tee -a "$out/zotune.log"
}

G4="sgd-inplace-graph+sgd-shadow-graph+adamu-inplace-graph+adamu-shadow-graph"
G8="$G4+sgd-inplace-eager+sgd-shadow-eager+adamu-inplace-eager+adamu-shadow-eager"
# largest models: OPT-30B's shape and a ~39B one at 16x128, the ~39B one also at 4x128 (fewer activations)
LARGE_PEER="opt-30b:bf16:16x128:eager+tuned,opt-40b:bf16:16x128+4x128:eager"
LARGE_ZOT="opt-30b:bf16:16x128:sgd-inplace-graph+sgd-shadow-graph+adamu-inplace-graph"
LARGE_ZOT="$LARGE_ZOT,opt-40b:bf16:16x128+4x128:sgd-inplace-graph+sgd-shadow-graph"

case $mode in
  quick)
    peer 80 --rates --rows gpt2-124M:bf16:16x128,opt-1.3b:bf16:16x128 --warmup 3 --steps 20 --split-steps 3
    zot 60 --rows "gpt2-124M:bf16:16x128:$G8,opt-1.3b:bf16:16x128:$G4" --warmup 3 --steps 20 --reps 5
    # the JMH step benchmark, briefly (its numbers go to zotune.log)
    timeout 25 "${java[@]}" org.openjdk.jmh.Main ZoStepBenchmark -p model=gpt2-124M -p variant=sgd-inplace-graph \
      -wi 1 -w 1 -i 2 -r 1 -f 1 2>&1 | tail -8 | tee -a "$out/zotune.log"
    if command -v ncu >/dev/null; then
      timeout 60 ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
        "${java[@]}" org.zotune.zo.cuda.StepBench --profile sgd-inplace-eager --models gpt2-1558M --shapes 16x128 \
        --steps 0 > "$out/ncu.txt" 2>&1
      echo "ncu: exit $? after ${SECONDS}s"
    fi
    ;;
  full)
    rows="gpt2-124M:bf16:16x128+16x512,gpt2-355M:bf16:16x128+16x512,gpt2-774M:bf16:16x128+16x512"
    rows="$rows,gpt2-1558M:bf16:16x128+16x512,opt-1.3b:bf16:16x128,opt-2.7b:bf16:16x128,opt-6.7b:bf16:16x128"
    rows="$rows,gpt2-124M:fp32:16x128+16x512,gpt2-355M:fp32:16x128+16x512"
    rows="$rows,gpt2-124M:fp16:16x128,gpt2-355M:fp16:16x128,gpt2-774M:fp16:16x128,gpt2-1558M:fp16:16x128"
    rows="$rows,gpt2-124M:fp16:16x512,gpt2-355M:fp16:16x512,gpt2-774M:fp16:16x512,gpt2-1558M:fp16:16x512"
    peer 175 --rates --rows "$rows" --warmup 3 --steps 20 --split-steps 3
    zrows="gpt2-124M:bf16:16x128:$G8,gpt2-355M:bf16:16x128:$G8,gpt2-774M:bf16:16x128:$G8"
    zrows="$zrows,gpt2-1558M:bf16:16x128:$G8,gpt2-124M:bf16:16x512:$G4,gpt2-355M:bf16:16x512:$G4"
    zrows="$zrows,gpt2-774M:bf16:16x512:$G4,gpt2-1558M:bf16:16x512:$G4"
    zrows="$zrows,opt-1.3b:bf16:16x128:$G4,opt-2.7b:bf16:16x128:$G4,opt-6.7b:bf16:16x128:$G4"
    zrows="$zrows,gpt2-124M:fp16:16x128:$G4,gpt2-355M:fp16:16x128:$G4,gpt2-774M:fp16:16x128:$G4"
    zrows="$zrows,gpt2-1558M:fp16:16x128:$G4,gpt2-1558M:fp16:16x512:$G4"
    zrows="$zrows,gpt2-124M:fp32:16x128+16x512:$G4,gpt2-355M:fp32:16x128+16x512:$G4"
    zot 165 --rows "$zrows" --warmup 3 --steps 20 --reps 5
    peer 70 --gemms --rows "$LARGE_PEER" --warmup 2 --steps 5 --split-steps 1
    zot 100 --rows "$LARGE_ZOT" --warmup 2 --steps 5 --reps 3
    ;;
  rest)
    peer 170 --rates --rows "gpt2-355M:fp16:16x512,gpt2-774M:fp16:16x512,gpt2-1558M:fp16:16x512" --warmup 3 --steps 20 \
      --split-steps 3
    zrows="gpt2-124M:fp16:16x512:$G4,gpt2-355M:fp16:16x512:$G4,gpt2-774M:fp16:16x512:$G4"
    zrows="$zrows,gpt2-1558M:fp16:16x512:$G4,gpt2-355M:fp32:16x128+16x512:$G4"
    zot 150 --rows "$zrows" --warmup 3 --steps 20 --reps 5
    # ZO-AdaMU with its momentum stored in bf16 against ZO-SGD, gpt2-xl bf16 16x128 (the AdaMU / SGD target)
    adamu="sgd-inplace-graph+adamu-inplace-graph+adamu_bf16-inplace-graph+adamu_bf16-shadow-graph"
    zot 80 --rows "gpt2-1558M:bf16:16x128:$adamu" --warmup 3 --steps 20 --reps 5
    ;;
  cls)
    # issue 14.3's target: classification within 10 % of lm at the same shape (the rows' "objective" field)
    cls="sgd-inplace-graph+sgd-inplace-graph-cls+sgd-inplace-eager-cls+adamu-inplace-graph+adamu-inplace-graph-cls"
    zot 120 --rows "gpt2-1558M:bf16:16x128:$cls" --warmup 3 --steps 20 --reps 5
    ;;
  lora)
    python3 -c "import peft" 2>/dev/null || { echo "step.sh --lora: python3 has no peft (pip install peft)" >&2; exit 2; }
    # issue 11.8's targets: zotune >= 2x the tuned peer; memory <= inference + adapters + optimiser state + 5 %
    peer 200 --rates --lora 8:16:q+v --rows "gpt2-1558M:bf16:16x128+16x512:infer+eager+tuned" --warmup 3 --steps 20 \
      --split-steps 3
    lv="sgd-inplace-graph+sgd-shadow-graph+adamu-inplace-graph"
    zot 110 --lora 8 --lora-targets q,v --lora-path merge --rows "gpt2-1558M:bf16:16x128+16x512:$lv" --warmup 3 \
      --steps 20 --reps 5
    zot 110 --lora 8 --lora-targets q,v --lora-path skinny --rows "gpt2-1558M:bf16:16x128+16x512:$lv" --warmup 3 \
      --steps 20 --reps 5
    ;;
  encoder)
    # issue 12.8's target: zotune's step >= 2x the tuned peer (report_step.py's encoder table)
    peer 200 --rates --rows "roberta-large:bf16:32x128+32x64,roberta-large:fp32:32x128+32x64" --warmup 3 --steps 20 \
      --split-steps 3
    ev="sgd-inplace-graph-mlm+sgd-shadow-graph-mlm+adamu-inplace-graph-mlm+sgd-inplace-eager-mlm"
    zot 150 --rows "roberta-large:bf16:32x128+32x64:$ev,roberta-large:fp32:32x128+32x64:sgd-inplace-graph-mlm+adamu-inplace-graph-mlm" \
      --warmup 3 --steps 20 --reps 5
    ;;
  largest)
    peer 150 --rates --rows "$LARGE_PEER" --warmup 2 --steps 5 --split-steps 1
    zot 150 --rows "$LARGE_ZOT" --warmup 2 --steps 5 --reps 3
    ;;
esac
python3 "$here/report_step.py" "$out" | tee "$out/table.md"
