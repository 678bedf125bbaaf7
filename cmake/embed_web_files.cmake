# Writes a C++ source that holds the files of web/ as string literals, for
# BuiltinWebFiles() (src/http/static_files.h). Run at build time by the rule
# in the top-level CMakeLists.txt, whenever one of the files changes:
#
#   cmake -DSOURCE_DIR=<web dir> -DNAMES=<name,name,...> -DOUTPUT=<file.cpp> -P embed_web_files.cmake
#
# Every byte is written as a \xNN escape, 32 to a line, so any content (UTF-8,
# quotes, backslashes, NUL) comes through unchanged.
foreach(var SOURCE_DIR NAMES OUTPUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_web_files.cmake: -D${var}=... is missing")
  endif()
endforeach()
string(REPLACE "," ";" names "${NAMES}")

set(arrays "")
set(entries "")
set(index 0)
foreach(name IN LISTS names)
  file(READ "${SOURCE_DIR}/${name}" hex HEX)
  string(LENGTH "${hex}" hex_length)
  set(lines "")
  set(offset 0)
  while(offset LESS hex_length)
    string(SUBSTRING "${hex}" ${offset} 64 chunk)
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" chunk "${chunk}")
    string(APPEND lines "\n    \"${chunk}\"")
    math(EXPR offset "${offset} + 64")
  endwhile()
  if(lines STREQUAL "")
    set(lines " \"\"")
  endif()
  string(APPEND arrays "// web/${name}\nconstexpr char kFile${index}[] =${lines};\n\n")
  string(APPEND entries "      {\"${name}\", {kFile${index}, sizeof kFile${index} - 1}},\n")
  math(EXPR index "${index} + 1")
endforeach()

set(text "// Generated from web/ by cmake/embed_web_files.cmake at build time: do not edit.
#include \"http/static_files.h\"

namespace notifyd::http {

namespace {

${arrays}}  // namespace

const std::vector<WebFile>& BuiltinWebFiles() {
  static const std::vector<WebFile> files = {
${entries}  };
  return files;
}

}  // namespace notifyd::http
")
file(WRITE "${OUTPUT}" "${text}")
