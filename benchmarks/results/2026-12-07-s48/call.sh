#!/usr/bin/env bash
# fcd4f91 + the GELU split kernel test: split-writing kernels' GPU tests, then the fp32 encoder step (peer; zotune
# defaults = the 32x64 ratio confirmed; zotune tuning over every cuBLASLt configuration), the configuration survey.
# Leaves the bundle in /tmp/b for the next call.
set -u
B=/tmp/b; rm -rf $B; mkdir -p $B $OUT/r
tar -xJf .carry/b48.tar.xz -C $B
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/r/gpu.txt
date -u +%FT%TZ >> $OUT/r/gpu.txt
timeout 150 $B/dist/run-gpu-tests --class-path src/test/resources --select-class org.zotune.backend.cuda.Tf32ProductsTest --select-class org.zotune.zo.cuda.ShadowSplitGpuTest --select-class org.zotune.backend.cuda.TunedProductsGpuTest --select-class org.zotune.fixtures.EncoderFixtureTest --select-class org.zotune.backend.cuda.CudaModelsTest --select-class org.zotune.train.EncoderObjectivesGpuTest > $OUT/r/gputests.txt 2>&1
echo "tests rc=$?"
sed 's/\x1b\[[0-9;]*m//g' $OUT/r/gputests.txt | grep -E "✘|split|differ|took a tuned|tests (successful|failed|found|aborted)" | head -40
date -u +%FT%TZ >> $OUT/r/gpu.txt
for d in /usr/local/cuda/lib64; do export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; done
export PYTHONUNBUFFERED=1
J=($B/dist/runtime/bin/java -Xmx16g -XX:MaxDirectMemorySize=4g -Dzotune.noise=fast -cp "$B/bench/benchmarks.jar:$B/bench/lib/*:$B/dist/lib/*")
O=$OUT/r/step; mkdir -p $O
timeout 80 python3 benchmarks/peer/mezo_peer.py --out $O/peer.jsonl --deadline 60 --rates \
  --rows "roberta-large:fp32:32x128+32x64" --warmup 3 --steps 20 --split-steps 3 > $O/peer.log 2>&1
echo "peer rc=$?"
for run in 1 2; do
  all=false; t=100; [ $run = 2 ] && all=true && t=130
  timeout $t "${J[@]}" -Dzotune.cuda.tuneAllConfigurations=$all org.zotune.zo.cuda.StepBench --out $O/zotune-$run.jsonl --deadline $((t-20)) \
    --rows "roberta-large:fp32:32x128+32x64:sgd-inplace-graph-mlm+sgd-shadow-graph-mlm" \
    --warmup 3 --steps 20 --reps 5 > $O/zotune-$run.log 2>&1
  echo "zotune run $run rc=$?"
  grep -h '"kind":"row"' $O/zotune-$run.jsonl | python3 -c "import sys,json;[print(r['shape'],r['variant'],round(r['ms'],2),r.get('loss_plus'),r.get('loss_minus')) for r in map(json.loads,sys.stdin)]"
done
grep "tf32 product" $O/zotune-1.log $O/zotune-2.log
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > $O/gpu.txt; date -u '+%Y-%m-%d %H:%M UTC' >> $O/gpu.txt
for run in 1 2; do
  mkdir -p $O/t$run; cp $O/peer.jsonl $O/gpu.txt $O/t$run/; cp $O/zotune-$run.jsonl $O/t$run/zotune.jsonl
  python3 benchmarks/report_step.py $O/t$run > $O/table-$run.md 2>&1
  echo "run $run:"; sed -n '/Encoder: the masked/,$p' $O/table-$run.md | grep -E "fp32|NOT|met"
done
date -u +%FT%TZ >> $OUT/r/gpu.txt
timeout 90 "${J[@]}" org.zotune.bench.Tf32AlgoSurvey 1024,2048,3072 4096,2048,3072 1024,2048,12288 > $OUT/r/survey.txt 2>&1
echo "survey rc=$?"; grep -E "^tf32 product|choice|^==|Exception" $OUT/r/survey.txt | head -40
date -u +%FT%TZ >> $OUT/r/gpu.txt
cd $OUT && tar -czf r.tgz r && rm -rf r
