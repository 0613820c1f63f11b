#!/usr/bin/env bash
# Assembles dist/ (git-ignored) for a GPU host without Java or Maven: a jlink'd runtime holding only
# the modules the code needs, the engine jar and its runtime jars, the test jar with the JUnit console
# launcher, and two launchers. Called by `mvn -Pdist package` with:
#   make-dist.sh <repo root> <build dir> <engine jar> <test jar> <java.home>
set -euo pipefail
root=$1 build=$2 jar=$3 testjar=$4 jhome=$5
dist="$root/dist"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

rm -rf "$dist"
mkdir -p "$dist/lib" "$dist/test"
cp "$build"/dist-lib/*.jar "$dist/lib/"
# DJL's api needs commons-compress/io/codec only to unpack downloaded model archives (TarUtils) and for
# a SAM2 translator; the tokenizers load offline from the jar. Annotations are compile-time only.
rm -f "$dist"/lib/commons-compress-*.jar "$dist"/lib/commons-io-*.jar "$dist"/lib/commons-codec-*.jar \
  "$dist"/lib/error_prone_annotations-*.jar
cp "$jar" "$dist/lib/zotune.jar"
cp "$testjar" "$dist/test/zotune-tests.jar"
cp "$build"/dist-test/*.jar "$dist/test/"

# DJL tokenizers ships libtokenizers for every platform: keep linux-x86_64 only (~14 MB less).
for j in "$dist"/lib/tokenizers-*.jar; do
  [ -e "$j" ] || continue
  # (and its model-zoo descriptors: tokenizers load from a local tokenizer.json)
  others=$(unzip -Z1 "$j" | grep -E '^(native/lib/.+/|nlp/.+|cv/.+)' | grep -v '^native/lib/linux-x86_64/' || true)
  if [ -n "$others" ]; then
    # shellcheck disable=SC2086
    zip -q -d "$j" $others
  fi
done

# JNA: keep the linux-x86-64 dispatcher only.
for j in "$dist"/lib/jna-*.jar; do
  [ -e "$j" ] || continue
  others=$(unzip -Z1 "$j" | grep '^com/sun/jna/[^/]\+/.\+' | grep -v '^com/sun/jna/linux-x86-64/' \
    | grep -E '\.(so|a|dll|jnilib)$' || true)
  # shellcheck disable=SC2086
  [ -z "$others" ] || zip -q -d "$j" $others
done
# CUDA presets: the engine binds cudart (driver and runtime API), cuBLAS/cuBLASLt, and may use NVRTC,
# cuRAND and NCCL; the JNI libraries of the other CUDA libraries (NPP, cuDNN, cuSOLVER...) go.
for j in "$dist"/lib/cuda-*-linux-x86_64.jar; do
  [ -e "$j" ] || continue
  others=$(unzip -Z1 "$j" | grep '/libjni[^/]*\.so$' | grep -v -E '/libjni(cudart|cublas|nvrtc|curand|nccl)\.so$' || true)
  # shellcheck disable=SC2086
  [ -z "$others" ] || zip -q -d "$j" $others
done

# ... and the Java side of those other CUDA libraries (the classes of cudart, cuBLAS, NVRTC, cuRAND and
# NCCL stay; nothing loads the others unless called).
for j in "$dist"/lib/cuda-*.jar; do
  case "$j" in *-linux-x86_64.jar) continue ;; esac
  others=$(unzip -Z1 "$j" | grep -E '^org/bytedeco/cuda/(global/|presets/)?(npp[a-z]*|cusolver|cusparse|cupti|nvml|nvcomp|cufile|cudnn|nvjpeg|cufft|cufftw)(/|\.class$|\$)' || true)
  # shellcheck disable=SC2086
  [ -z "$others" ] || zip -q -d "$j" $others
done

# Modules: java.base; jdk.unsupported (JavaCPP's Unsafe); java.logging (JNA and JUnit log through
# java.util.logging); jdk.zipfs (JUnit scans the test jar as a file system); java.management (JMH,
# which benchmarks/ runs on this runtime); whatever the engine's own classes use (jdeps); java.desktop only when the engine
# draws plots through XChart (AWT/ImageIO).
modules="java.base,jdk.unsupported,java.logging,jdk.zipfs,java.management"
own=$("$jhome/bin/jdeps" --multi-release 17 --ignore-missing-deps --print-module-deps "$jar" 2>/dev/null || true)
[ -n "$own" ] && modules="$modules,$own"
# java.desktop (AWT, for PNG plots) only with ZOTUNE_DIST_PLOTS=1: ~11 MiB more than the 60 MiB budget allows.
if [ "${ZOTUNE_DIST_PLOTS:-0}" = 1 ] \
    && "$jhome/bin/jdeps" --multi-release 17 -verbose:package "$jar" 2>/dev/null | grep -q 'org\.knowm\.xchart'; then
  modules="$modules,java.desktop"
fi
modules=$(echo "$modules" | tr ',' '\n' | sort -u | paste -sd, -)
[ "${ZOTUNE_DIST_PLOTS:-0}" = 1 ] || modules=$(echo "$modules" | tr ',' '\n' | grep -vx java.desktop | paste -sd, -)
echo "dist: jlink modules $modules"
# The runtime is headless (no X11 toolkit, splash screen or sound libraries), English-only (no
# translated AWT/Swing messages), and offline (no public-suffix list for HTTPS cookie domains).
"$jhome/bin/jlink" --module-path "$jhome/jmods" --add-modules "$modules" \
  --strip-debug --no-header-files --no-man-pages --compress=2 \
  --exclude-files '**/libawt_xawt.so,**/libsplashscreen.so,**/libjsound.so,**/public_suffix_list.dat' \
  --exclude-resources 'regex:/java\.desktop/.*/resources/[^/]*_[a-z][a-z](_[A-Z][A-Z])?\.class' \
  --output "$dist/runtime"
strip --strip-unneeded "$dist/runtime/lib/server/libjvm.so"
# CDS class list (only for regenerating an archive) and keytool: not used
rm -f "$dist/runtime/lib/classlist" "$dist/runtime/bin/keytool"
# links do not survive every copy (the device transfer keeps them as links): make them plain files
find "$dist" -type l | while read -r l; do
  target=$(readlink -f "$l" || true)
  if [ -n "$target" ] && [ -f "$target" ]; then
    cp --remove-destination "$target" "$l"
  else
    rm -f "$l"
  fi
done

cp "$here/zotune" "$here/run-gpu-tests" "$here/nccl-path.sh" "$dist/"
chmod +x "$dist/zotune" "$dist/run-gpu-tests"
du -sh "$dist"
echo "dist: $(du -sb "$dist" | cut -f1 | awk '{printf "%.1f MiB", $1 / 1048576}') (apparent size; du -sh rounds blocks up)"
