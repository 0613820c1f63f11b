# Sourced by the dist launchers (zotune, run-gpu-tests): puts NCCL's library folder on LD_LIBRARY_PATH for
# parallel.gpus (--gpus). The JavaCPP CUDA presets carry NCCL's bindings but not libnccl.so.2, which on the GPU
# hosts comes with the Python package nvidia-nccl-cu13. Looked for in this order (zotune's NcclLibrary searches
# the same places when started otherwise):
#   1. $ZOTUNE_NCCL_LIB: the library file or the folder that holds it (checked by zotune when set)
#   2. the lib/ folder of python3's nvidia.nccl package ($ZOTUNE_PYTHON, default python3 where /dev/nvidia1 exists)
#   3. the system's folders (the dynamic linker finds it there by itself)
# NVLink multicast stays off (NCCL_NVLS_ENABLE=0) unless the caller set NCCL_NVLS_ENABLE.
zotune_nccl_dir=""
if [ -n "${ZOTUNE_NCCL_LIB:-}" ]; then
  if [ -d "$ZOTUNE_NCCL_LIB" ]; then zotune_nccl_dir="$ZOTUNE_NCCL_LIB"; else zotune_nccl_dir="$(dirname "$ZOTUNE_NCCL_LIB")"; fi
elif { [ -n "${ZOTUNE_PYTHON:-}" ] || [ -e /dev/nvidia1 ]; } && command -v "${ZOTUNE_PYTHON:-python3}" >/dev/null 2>&1; then
  # python3 only where a second GPU exists or ZOTUNE_PYTHON names it: the probe costs every command tens of ms, and
  # with one GPU zotune's own NcclLibrary finds the library when a run asks for it
  zotune_nccl_dir="$("${ZOTUNE_PYTHON:-python3}" -c 'import os, nvidia.nccl as n
for p in n.__path__:
    if os.path.isfile(os.path.join(p, "lib", "libnccl.so.2")):
        print(os.path.join(p, "lib")); break' 2>/dev/null || true)"
fi
if [ -n "$zotune_nccl_dir" ] && [ -f "$zotune_nccl_dir/libnccl.so.2" ]; then
  export LD_LIBRARY_PATH="$zotune_nccl_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
unset zotune_nccl_dir
export NCCL_NVLS_ENABLE="${NCCL_NVLS_ENABLE:-0}"
