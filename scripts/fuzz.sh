#!/usr/bin/env bash
# Fuzzes one parser of untrusted input (src/test/java/org/zotune/fuzz/ParsersFuzzTest.java and
# AdapterAndSearchFuzzTest.java) with Jazzer, outside CI.
# usage: scripts/fuzz.sh TARGET SECONDS [WORKDIR]
#   TARGET: Safetensors HfConfigJson Llama2cCheckpoint Llama2cTokenizer RunConfigYaml Tsv Jsonl KShot TrajectoryFile
#           PeftAdapter DfoSearchState PrefixAdapter
# Starts from the committed corpus, keeps what it generates in WORKDIR/corpus (default target/fuzz/TARGET) and writes
# a crash as WORKDIR/crash-*; copy a crash into the target's folder under
# src/test/resources/org/zotune/fuzz/<class>Inputs/ once it is fixed, so mvn verify replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1
seconds=$2
work=${3:-target/fuzz/$target}
declare -A seeds=([Safetensors]=safetensors [HfConfigJson]=hfConfigJson [Llama2cCheckpoint]=llama2cCheckpoint
  [Llama2cTokenizer]=llama2cTokenizer [RunConfigYaml]=runConfigYaml [Tsv]=tsv [Jsonl]=jsonl [KShot]=kShot [TrajectoryFile]=trajectory
  [PeftAdapter]=peftAdapter [DfoSearchState]=dfoSearchState [PrefixAdapter]=prefixAdapter)
case $target in
  PeftAdapter|DfoSearchState|PrefixAdapter) class=AdapterAndSearchFuzzTest ;;
  *) class=ParsersFuzzTest ;;
esac
seed=src/test/resources/org/zotune/fuzz/${class}Inputs/${seeds[$target]}
mkdir -p "$work/corpus"
if [ ! -f target/fuzz-classpath.txt ] || [ pom.xml -nt target/fuzz-classpath.txt ]; then
  mvn -B -q test-compile -Dzotune.skipNative=true
  mvn -B -q dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/fuzz-classpath.txt
fi
cp="target/test-classes:target/classes:$(cat target/fuzz-classpath.txt)"
exec java -cp "$cp" com.code_intelligence.jazzer.Jazzer \
  --target_class="org.zotune.fuzz.$class\$$target" --instrumentation_includes='org.zotune.**' \
  -max_total_time="$seconds" -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" "$seed"
