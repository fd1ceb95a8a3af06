# cmake -P script behind the install_and_find_package test: installs the current build of
# tapegrad into a fresh prefix, then configures, builds and runs the consumer project in
# tests/cmake_consumer against that prefix. Offline: only the local toolchain is used.
#
# Inputs (-D): BUILD_DIR (tapegrad's build tree), CONFIG (build configuration), WORK_DIR
# (scratch directory, wiped), CONSUMER_DIR (consumer sources), GENERATOR, CXX_COMPILER; and
# OPENBLAS_DIR, when tapegrad was built with an OpenBLAS outside the default path (its OpenMP
# build): the installed program must load it from there.
foreach(var BUILD_DIR WORK_DIR CONSUMER_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

set(prefix ${WORK_DIR}/prefix)
set(consumer_build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --config ${CONFIG} --prefix ${prefix})
# CMAKE_FIND_USE_PACKAGE_REGISTRY/SYSTEM_PACKAGE_REGISTRY off and tapegrad_DIR checked below: the
# consumer must find this prefix, not some other installed copy.
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${consumer_build} -G ${GENERATOR}
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=${CONFIG}
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
file(STRINGS ${consumer_build}/CMakeCache.txt found REGEX "^tapegrad_DIR:")
if(NOT found MATCHES "=${prefix}/")
  message(FATAL_ERROR "consumer found tapegrad outside ${prefix}: ${found}")
endif()
run(${CMAKE_COMMAND} --build ${consumer_build} --config ${CONFIG})

# Multi-config generators put the program in a per-config folder.
set(app ${consumer_build}/app)
if(NOT EXISTS ${app})
  set(app ${consumer_build}/${CONFIG}/app)
endif()
run(${app})
if(OPENBLAS_DIR)
  execute_process(COMMAND ldd ${app} OUTPUT_VARIABLE libraries RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT libraries MATCHES "libopenblas[^\n]*=> ${OPENBLAS_DIR}/libopenblas")
    message(FATAL_ERROR "the installed consumer does not load OpenBLAS from ${OPENBLAS_DIR}:\n"
      "${libraries}")
  endif()
endif()
