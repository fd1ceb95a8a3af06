# Fails unless README.md shows EXAMPLE verbatim: the code block that follows the line
# "<!-- example: <file name> -->" must equal the file, so the README's code always compiles.
get_filename_component(name ${EXAMPLE} NAME)
file(READ ${README} readme)
file(READ ${EXAMPLE} example)
set(marker "<!-- example: ${name} -->\n```cpp\n")
string(FIND "${readme}" "${marker}" start)
if(start EQUAL -1)
  message(FATAL_ERROR "README.md has no code block marked <!-- example: ${name} -->")
endif()
string(LENGTH "${marker}" marker_length)
math(EXPR start "${start} + ${marker_length}")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "```\n" stop)
string(SUBSTRING "${rest}" 0 ${stop} block)
if(NOT block STREQUAL example)
  message(FATAL_ERROR "README.md's code block for ${name} differs from examples/${name}; copy "
    "the file into the README")
endif()
