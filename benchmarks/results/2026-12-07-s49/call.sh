#!/usr/bin/env bash
# the tuner over every configuration against the heuristic's, alternating JVMs (32x64 shadow), then the whole GPU
# suite with the shared data except MiniLM.
set -u
B=/tmp/b; rm -rf $B; mkdir -p $B /tmp/td $OUT/r
tar -xJf .carry/b49.tar.xz -C $B
tar -xJf .carry/td.tar.xz -C /tmp/td
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/r/gpu.txt
date -u +%FT%TZ >> $OUT/r/gpu.txt
for d in /usr/local/cuda/lib64; do export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; done
J=($B/dist/runtime/bin/java -Xmx16g -XX:MaxDirectMemorySize=4g -Dzotune.noise=fast -cp "$B/bench/benchmarks.jar:$B/bench/lib/*:$B/dist/lib/*")
O=$OUT/r/ab; mkdir -p $O
i=0
for all in true false true false; do i=$((i+1))
  timeout 70 "${J[@]}" -Dzotune.cuda.tuneAllConfigurations=$all org.zotune.zo.cuda.StepBench --out $O/z$i-$all.jsonl --deadline 60 \
    --rows "roberta-large:fp32:32x64:sgd-shadow-graph-mlm" --warmup 3 --steps 20 --reps 5 > $O/z$i-$all.log 2>&1
  echo "run $i all=$all rc=$?"
  grep -h '"kind":"row"' $O/z$i-$all.jsonl | python3 -c "import sys,json;[print(r['shape'],r['variant'],round(r['ms'],2),r.get('loss_plus'),r.get('loss_minus')) for r in map(json.loads,sys.stdin)]"
  grep "tf32 product" $O/z$i-$all.log
done
date -u +%FT%TZ >> $OUT/r/gpu.txt
timeout 400 $B/dist/run-gpu-tests --data /tmp/td --class-path src/test/resources > $OUT/r/gpusuite.txt 2>&1
echo "suite rc=$?"
sed 's/\x1b\[[0-9;]*m//g' $OUT/r/gpusuite.txt | grep -E "✘|tests (successful|failed|found|aborted|skipped)|containers" | head -40
date -u +%FT%TZ >> $OUT/r/gpu.txt
cd $OUT && tar -czf r.tgz r && rm -rf r
