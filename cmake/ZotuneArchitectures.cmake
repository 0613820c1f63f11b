# SASS for Ampere (sm_80) and Hopper (sm_90), plus compute_90 PTX so newer GPUs can JIT.
set(ZOTUNE_GENCODE_FLAGS
  -gencode=arch=compute_80,code=sm_80
  -gencode=arch=compute_90,code=[sm_90,compute_90])
