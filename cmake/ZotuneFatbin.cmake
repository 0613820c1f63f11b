# zotune_add_fatbin(<target> OUTPUT <file> SOURCE <file.cu> [DEPENDS ...] [INCLUDES ...])
# Compiles one translation unit to a fatbin with nvcc directly (CMake < 3.27 lacks CUDA_FATBIN).
include(ZotuneArchitectures)

function(zotune_add_fatbin target)
  cmake_parse_arguments(ARG "" "OUTPUT;SOURCE" "DEPENDS;INCLUDES" ${ARGN})
  set(include_flags "")
  foreach(dir IN LISTS ARG_INCLUDES)
    list(APPEND include_flags "-I${dir}")
  endforeach()
  get_filename_component(out_dir "${ARG_OUTPUT}" DIRECTORY)
  add_custom_command(
    OUTPUT "${ARG_OUTPUT}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${out_dir}"
    COMMAND ${CMAKE_CUDA_COMPILER} --fatbin ${ZOTUNE_GENCODE_FLAGS}
            -O3 -std=c++17 -lineinfo ${include_flags} -o "${ARG_OUTPUT}" "${ARG_SOURCE}"
    DEPENDS "${ARG_SOURCE}" ${ARG_DEPENDS}
    COMMENT "nvcc --fatbin ${ARG_OUTPUT}"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS "${ARG_OUTPUT}")
endfunction()
