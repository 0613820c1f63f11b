# SASS for Ampere (sm_80) and Hopper (sm_90a: the arch-specific target, so that the Hopper attention kernels may use
# warpgroup MMA; its SASS runs on compute capability 9.0 alone), plus compute_90 PTX so newer GPUs can JIT (there the
# Hopper kernels' bodies are empty traps, and the host never picks them).
set(ZOTUNE_GENCODE_FLAGS
  -gencode=arch=compute_80,code=sm_80
  -gencode=arch=compute_90a,code=sm_90a
  -gencode=arch=compute_90,code=compute_90)
