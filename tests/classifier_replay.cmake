# Trains the classifier example briefly by replay and eagerly, both variants (1000 training images:
# 7 full batches of 128 and a last one of 104, so both recordings are made and, in the second
# epoch, run), and fails unless the two runs print the same losses and accuracies and save the same
# models, byte for byte. Says "skipped" (the ctest's SKIP_REGULAR_EXPRESSION) when Debian's
# dataset-fashion-mnist is not installed.
#   -DCLASSIFIER=<the classifier executable> -DDATA=<the data directory> -DWORK=<a directory>
foreach(var CLASSIFIER DATA WORK)
  if(NOT ${var})
    message(FATAL_ERROR "classifier_replay.cmake: pass -D${var}=...")
  endif()
endforeach()
foreach(file train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz
             t10k-labels-idx1-ubyte.gz)
  if(NOT EXISTS "${DATA}/${file}")
    message(STATUS "classifier replay vs eager: skipped, no ${DATA}/${file} "
      "(apt-get install dataset-fashion-mnist)")
    return()
  endif()
endforeach()
file(MAKE_DIRECTORY "${WORK}")

foreach(mode replay eager)
  set(flags --data "${DATA}" --limit 1000 --epochs 2 --skip-lbfgs
    --out "${WORK}/classifier_${mode}.npz")
  if(mode STREQUAL "eager")
    list(APPEND flags --eager)
  endif()
  execute_process(COMMAND "${CLASSIFIER}" ${flags} OUTPUT_VARIABLE output ERROR_VARIABLE errors
    RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "classifier (${mode}) failed (${status}):\n${output}${errors}")
  endif()
  # The figures, without the times: each epoch's loss and accuracies, and each final test accuracy.
  string(REGEX MATCHALL "epoch [0-9]+/[0-9]+  loss [0-9.]+  acc [0-9.]+  test [0-9.]+|test accuracy [0-9.]+"
    figures_${mode} "${output}")
  list(LENGTH figures_${mode} count)
  if(NOT count EQUAL 6)  # 2 variants x (2 epochs + the final test accuracy)
    message(FATAL_ERROR "classifier (${mode}): expected 6 lines of figures, found ${count}:\n"
      "${output}")
  endif()
endforeach()

if(NOT figures_replay STREQUAL figures_eager)
  string(REPLACE ";" "\n  " replay "${figures_replay}")
  string(REPLACE ";" "\n  " eager "${figures_eager}")
  message(FATAL_ERROR "replay and eager training differ:\nreplay:\n  ${replay}\neager:\n  ${eager}")
endif()
foreach(variant "" _modern)  # the sigmoid variant's model, then the modern one's
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${WORK}/classifier_replay${variant}.npz"
    "${WORK}/classifier_eager${variant}.npz" RESULT_VARIABLE differ)
  if(NOT differ EQUAL 0)
    message(FATAL_ERROR "classifier_replay${variant}.npz and classifier_eager${variant}.npz "
      "(the models trained by replay and eagerly) differ")
  endif()
endforeach()
string(REPLACE ";" "\n  " figures "${figures_replay}")
message(STATUS "replay and eager: the same figures and models\n  ${figures}")
