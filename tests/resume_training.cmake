# Runs tests/resume_training's phases as four separate processes in a fresh temporary directory,
# so that the resumed half starts from nothing but the saved archive, and fails unless the
# resumed run equals the straight one bit for bit. -DRESUME=<the resume_training executable>.
if(NOT RESUME)
  message(FATAL_ERROR "resume_training.cmake: pass -DRESUME=<path to resume_training>")
endif()
if(DEFINED ENV{TMPDIR} AND IS_DIRECTORY "$ENV{TMPDIR}")
  set(tmp_root "$ENV{TMPDIR}")
else()
  set(tmp_root "/tmp")
endif()
string(RANDOM LENGTH 12 suffix)
set(work "${tmp_root}/tapegrad_resume_${suffix}")
file(MAKE_DIRECTORY "${work}")

foreach(phase straight first second compare)
  execute_process(COMMAND "${RESUME}" ${phase} "${work}" RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    file(REMOVE_RECURSE "${work}")
    message(FATAL_ERROR "resume_training ${phase} failed (${result})")
  endif()
endforeach()
file(REMOVE_RECURSE "${work}")
