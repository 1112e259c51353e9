# The AWS Lambda layer: ${CMAKE_BINARY_DIR}/libxray-auto-layer.zip, built with ALL.
#
#   bootstrap               examples/lambda/bootstrap (mode 0755): a provided.al2 /
#                           provided.al2023 runtime in sh + curl that preloads the library
#   lib/libxray-auto.so     the library
#   lib/<soname>            every library it needs besides glibc's own (today libcjson.so.1),
#                           found through DT_NEEDED (readelf), closed over their own needs,
#                           copied from the real file under the soname
#
# A layer is extracted under /opt, so lib/ is /opt/lib, which Lambda puts on LD_LIBRARY_PATH,
# and bootstrap is /opt/bootstrap, which Lambda runs when the function has no bootstrap of its
# own.  The zip is written by `cmake -E tar --format=zip` (no zip program needed; Unix modes
# and a fixed mtime are stored).  Staging directory: ${CMAKE_BINARY_DIR}/lambda-layer.
#
# include(cmake/lambda_layer.cmake) from the top-level CMakeLists.txt, after the library
# target.  The same file is the build step's script (cmake -P, see the bottom).

if(NOT CMAKE_SCRIPT_MODE_FILE)
  include_guard(GLOBAL)
  if(CMAKE_READELF)
    set(XR_READELF "${CMAKE_READELF}")
  else()
    find_program(XR_READELF NAMES readelf REQUIRED)
  endif()
  set(_xr_layer_zip "${CMAKE_BINARY_DIR}/libxray-auto-layer.zip")
  add_custom_command(
    OUTPUT "${_xr_layer_zip}"
    COMMAND ${CMAKE_COMMAND}
            -DXR_LIB=$<TARGET_FILE:xray-auto-lib>
            -DXR_BOOTSTRAP=${CMAKE_SOURCE_DIR}/examples/lambda/bootstrap
            -DXR_STAGE=${CMAKE_BINARY_DIR}/lambda-layer
            -DXR_ZIP=${_xr_layer_zip}
            -DXR_READELF=${XR_READELF}
            -DXR_CC=${CMAKE_C_COMPILER}
            -P ${CMAKE_CURRENT_LIST_FILE}
    DEPENDS xray-auto-lib "${CMAKE_SOURCE_DIR}/examples/lambda/bootstrap"
            "${CMAKE_CURRENT_LIST_FILE}"
    COMMENT "Packing the Lambda layer libxray-auto-layer.zip"
    VERBATIM)
  add_custom_target(lambda_layer ALL DEPENDS "${_xr_layer_zip}")
  return()
endif()

cmake_minimum_required(VERSION 3.18)

# ---------------------------------------------------------------------------------------------
# Script mode: cmake -DXR_LIB=... -DXR_BOOTSTRAP=... -DXR_STAGE=... -DXR_ZIP=...
#              -DXR_READELF=... -DXR_CC=... -P lambda_layer.cmake
# ---------------------------------------------------------------------------------------------
foreach(v XR_LIB XR_BOOTSTRAP XR_STAGE XR_ZIP XR_READELF)
  if(NOT ${v})
    message(FATAL_ERROR "lambda_layer.cmake: ${v} not set")
  endif()
endforeach()

# glibc's own libraries: every Lambda runtime has them (and they must come from its glibc).
set(_xr_libc_sonames libc.so.6 libdl.so.2 libpthread.so.0 libm.so.6 librt.so.1 libresolv.so.2
    libutil.so.1 ld-linux-x86-64.so.2 ld-linux-aarch64.so.1 ld-linux.so.2 ld-linux-armhf.so.3)

function(_xr_needed elf out)
  execute_process(COMMAND ${XR_READELF} -d "${elf}" OUTPUT_VARIABLE dyn RESULT_VARIABLE rc
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "readelf -d ${elf} failed: ${err}")
  endif()
  string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]\n]+\\]" lines "${dyn}")
  set(names)
  foreach(l IN LISTS lines)
    string(REGEX REPLACE ".*\\[([^]]+)\\].*" "\\1" n "${l}")
    list(APPEND names "${n}")
  endforeach()
  set(${out} "${names}" PARENT_SCOPE)
endfunction()

# The file the dynamic linker would load for a soname: the compiler's library search path
# first (what the link used), then the ld.so cache.
function(_xr_find soname out)
  set(path "")
  if(XR_CC)
    execute_process(COMMAND ${XR_CC} -print-file-name=${soname} OUTPUT_VARIABLE p
                    OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
    if(rc EQUAL 0 AND IS_ABSOLUTE "${p}" AND EXISTS "${p}")
      set(path "${p}")
    endif()
  endif()
  if(NOT path)
    execute_process(COMMAND ldconfig -p OUTPUT_VARIABLE cache RESULT_VARIABLE rc)
    string(REGEX MATCH "[ \t]${soname} \\([^)]*\\) => ([^\n]+)" m "${cache}")
    if(m)
      set(path "${CMAKE_MATCH_1}")
    endif()
  endif()
  if(NOT path)
    message(FATAL_ERROR "lambda layer: cannot find ${soname} (needed by libxray-auto.so)")
  endif()
  get_filename_component(path "${path}" REALPATH)
  set(${out} "${path}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${XR_STAGE}")
file(MAKE_DIRECTORY "${XR_STAGE}/lib" "${XR_STAGE}/tmp")

set(_rw OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
set(_rwx OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# Copies src into the staging directory as dest (relative), with the given permissions.
function(_xr_stage src dest)
  get_filename_component(name "${src}" NAME)
  file(COPY "${src}" DESTINATION "${XR_STAGE}/tmp" FILE_PERMISSIONS ${ARGN})
  file(RENAME "${XR_STAGE}/tmp/${name}" "${XR_STAGE}/${dest}")
endfunction()

_xr_stage("${XR_LIB}" lib/libxray-auto.so ${_rw})
_xr_stage("${XR_BOOTSTRAP}" bootstrap ${_rwx})
set(_members bootstrap lib/libxray-auto.so)

# DT_NEEDED closure, glibc excluded.
set(_todo "${XR_LIB}")
set(_seen)
while(_todo)
  list(POP_FRONT _todo elf)
  _xr_needed("${elf}" needs)
  foreach(n IN LISTS needs)
    if(n IN_LIST _xr_libc_sonames OR n IN_LIST _seen)
      continue()
    endif()
    list(APPEND _seen "${n}")
    _xr_find("${n}" real)
    _xr_stage("${real}" "lib/${n}" ${_rw})
    list(APPEND _members "lib/${n}")
    list(APPEND _todo "${real}")
    message(STATUS "lambda layer: lib/${n} <- ${real}")
  endforeach()
endwhile()
file(REMOVE_RECURSE "${XR_STAGE}/tmp")

file(REMOVE "${XR_ZIP}")
execute_process(COMMAND ${CMAKE_COMMAND} -E tar cf "${XR_ZIP}" --format=zip
                        "--mtime=2020-01-01 00:00:00Z" ${_members}
                WORKING_DIRECTORY "${XR_STAGE}" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "writing ${XR_ZIP} failed: ${err}")
endif()
