# Fails when a test case name of TEST_EXECUTABLE contains ';': doctest_discover_tests would split
# it into ctest entries that match no test case, and doctest passes a filter matching nothing.
execute_process(COMMAND "${TEST_EXECUTABLE}" --list-test-cases --no-version
  OUTPUT_VARIABLE listing RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${TEST_EXECUTABLE} --list-test-cases failed (${status})")
endif()
string(FIND "${listing}" ";" semicolon)
if(NOT semicolon EQUAL -1)
  string(REPLACE ";" "<SEMICOLON>" listing "${listing}")
  message(FATAL_ERROR "test case names must not contain ';' (ctest would never run them):\n"
    "${listing}")
endif()
string(REGEX MATCHALL "\n" lines "${listing}")
list(LENGTH lines count)
message(STATUS "${count} lines of test case names, none with ';'")
