# cJSON compiled into the libraries instead of linked (issue 7, start-up).
#
# libxray-auto.so (glibc): with XR_CJSON_BUILTIN (default ON) cJSON.c is compiled into the
# library, hidden like everything else, and libcjson.so.1 is no DT_NEEDED: every process of an
# image that preloads us maps one file fewer, and the loader's work for it (open, mmap,
# relocations, version checks: ~39 000 instructions of `sh -c true` under callgrind) is gone;
# a missing libcjson1 can no longer stop a host from starting (preload-craft.md E8b). The
# source must be the version of the headers everything compiles against (cjson/cJSON.h of
# libcjson-dev): when it is not, or when no source is found, the library links libcjson.so.1
# as before and the reason goes to the configure log. Unit tests, the tool and the examples
# keep linking libcjson.so.1 (xr_core's interface). tests/check_elf.sh --no-cjson (elf.contract)
# checks the result.
# libxray-auto-musl.so always compiles it in (cmake/musl.cmake), from the same source.
#
# Not chosen: dlopen("libcjson.so.1") on the first traced operation behind a shim of the
# cJSON_* functions. It would take the loader lock from inside a hooked call (ABBA against a
# thread whose library constructor calls a hooked function, unless every first use were
# proven to hold none of our locks), open a file in the middle of the host's operation, cost
# more than the DT_NEEDED on the first traced call, and make JSON a run-time failure mode;
# compiled in, none of that exists and the start-up saving is the same.
#
# The source: XR_CJSON_SOURCE_DIR, or else Debian's source package, fetched once at configure
# time with apt-get source and a private apt configuration under
# ${CMAKE_BINARY_DIR}/musl/cjson (the system's apt sources and lists are not touched).
#
# include() from the top-level CMakeLists.txt after xray-auto-lib, before cmake/musl.cmake.
include_guard(GLOBAL)

option(XR_CJSON_BUILTIN "Compile cJSON into libxray-auto.so instead of linking libcjson.so.1" ON)
set(XR_CJSON_SOURCE_DIR "" CACHE PATH
    "cJSON source tree (cJSON.c, cJSON.h) for the libraries; empty: apt-get source cjson")

# Sets ${out} to the directory holding cJSON.c and cJSON.h, or to "" with
# ${why} saying what is missing.
function(xr_cjson_source out why)
  set(${out} "" PARENT_SCOPE)
  if(XR_CJSON_SOURCE_DIR)
    if(EXISTS "${XR_CJSON_SOURCE_DIR}/cJSON.c" AND EXISTS "${XR_CJSON_SOURCE_DIR}/cJSON.h")
      set(${out} "${XR_CJSON_SOURCE_DIR}" PARENT_SCOPE)
    else()
      set(${why} "XR_CJSON_SOURCE_DIR=${XR_CJSON_SOURCE_DIR} holds no cJSON.c and cJSON.h"
          PARENT_SCOPE)
    endif()
    return()
  endif()

  set(root "${CMAKE_BINARY_DIR}/musl/cjson") # where the musl build kept it first
  file(GLOB have "${root}/src/cjson-*/cJSON.c")
  if(NOT have)
    find_program(XR_APT_GET apt-get)
    find_program(XR_DPKG_SOURCE dpkg-source)
    set(os_id "")
    set(codename "")
    if(EXISTS /etc/os-release)
      file(STRINGS /etc/os-release osr REGEX "^(ID|VERSION_CODENAME)=")
      foreach(line IN LISTS osr)
        if(line MATCHES "^ID=\"?([^\"]*)\"?$")
          set(os_id "${CMAKE_MATCH_1}")
        elseif(line MATCHES "^VERSION_CODENAME=\"?([^\"]*)\"?$")
          set(codename "${CMAKE_MATCH_1}")
        endif()
      endforeach()
    endif()
    if(NOT XR_APT_GET OR NOT XR_DPKG_SOURCE OR NOT os_id STREQUAL "debian" OR NOT codename)
      set(${why} "no cJSON source: apt-get source needs Debian with apt and dpkg-dev; or set XR_CJSON_SOURCE_DIR"
          PARENT_SCOPE)
      return()
    endif()
    file(REMOVE_RECURSE "${root}")
    file(MAKE_DIRECTORY "${root}/sources" "${root}/lists/partial" "${root}/cache/archives/partial"
         "${root}/src")
    file(WRITE "${root}/sources/debian-src.sources"
         "Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: ${codename}\n"
         "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    # Only these paths: the system's sources, lists and caches stay as they are.
    set(apt "${XR_APT_GET}" -q
        -o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=${root}/sources"
        -o "Dir::State::Lists=${root}/lists" -o "Dir::Cache=${root}/cache"
        -o "APT::Sandbox::User=root" -o "APT::Get::Only-Source=true")
    message(STATUS "Fetching cJSON's source for the libraries: apt-get source cjson (Debian ${codename})")
    execute_process(COMMAND ${apt} update
                    RESULT_VARIABLE rc OUTPUT_VARIABLE log ERROR_VARIABLE log TIMEOUT 300)
    if(rc EQUAL 0)
      execute_process(COMMAND ${apt} source cjson WORKING_DIRECTORY "${root}/src"
                      RESULT_VARIABLE rc OUTPUT_VARIABLE log ERROR_VARIABLE log TIMEOUT 300)
    endif()
    file(GLOB have "${root}/src/cjson-*/cJSON.c")
    if(NOT rc EQUAL 0 OR NOT have)
      string(REGEX REPLACE "\n$" "" log "${log}")
      message(STATUS "apt-get failed (${rc}):\n${log}")
      set(${why} "apt-get source cjson failed (${rc}); see the configure log, or set XR_CJSON_SOURCE_DIR"
          PARENT_SCOPE)
      return()
    endif()
    # The index (20 MB) has served its purpose.
    file(REMOVE_RECURSE "${root}/lists" "${root}/cache")
  endif()
  list(GET have 0 c)
  get_filename_component(dir "${c}" DIRECTORY)
  set(${out} "${dir}" PARENT_SCOPE)
endfunction()

# "MAJOR.MINOR.PATCH" of the cJSON.h at ${h}, or "".
function(_xr_cjson_version h out)
  set(v "")
  foreach(part MAJOR MINOR PATCH)
    file(STRINGS "${h}" line REGEX "^#define CJSON_VERSION_${part} [0-9]+")
    if(NOT line MATCHES "^#define CJSON_VERSION_${part} ([0-9]+)")
      set(${out} "" PARENT_SCOPE)
      return()
    endif()
    list(APPEND v "${CMAKE_MATCH_1}")
  endforeach()
  list(JOIN v "." v)
  set(${out} "${v}" PARENT_SCOPE)
endfunction()

set(XR_CJSON_IS_BUILTIN OFF)
if(XR_CJSON_BUILTIN)
  xr_cjson_source(_xr_cj_dir _xr_cj_why)
  if(_xr_cj_dir)
    # The header the sources include (#include <cjson/cJSON.h>).
    find_file(XR_CJSON_SYSTEM_HEADER cjson/cJSON.h HINTS ${CJSON_INCLUDE_DIRS}
              ${CJSON_INCLUDE_DIRS}/..)
    _xr_cjson_version("${_xr_cj_dir}/cJSON.h" _xr_cj_src_v)
    set(_xr_cj_sys_v "")
    if(XR_CJSON_SYSTEM_HEADER)
      _xr_cjson_version("${XR_CJSON_SYSTEM_HEADER}" _xr_cj_sys_v)
    endif()
    if(NOT _xr_cj_src_v OR NOT _xr_cj_src_v STREQUAL _xr_cj_sys_v)
      string(CONCAT _xr_cj_why "cJSON source ${_xr_cj_dir} (${_xr_cj_src_v}) is not the "
             "version of the headers (${XR_CJSON_SYSTEM_HEADER}: ${_xr_cj_sys_v})")
      set(_xr_cj_dir "")
    endif()
  endif()
  if(_xr_cj_dir)
    set(XR_CJSON_IS_BUILTIN ON)
    set(XR_CJSON_BUILTIN_DIR "${_xr_cj_dir}") # its LICENSE: cmake/packaging.cmake
    message(STATUS "libxray-auto.so: cJSON compiled in from ${_xr_cj_dir}")
    # Third-party code: its own C89, none of our warnings (a new Debian revision must not
    # break the build), hidden like everything else.
    add_library(xr_cjson OBJECT "${_xr_cj_dir}/cJSON.c")
    set_target_properties(xr_cjson PROPERTIES
      C_STANDARD 90 C_EXTENSIONS OFF POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET hidden
      COMPILE_OPTIONS -fstack-protector-strong)
    # The library's references resolve to these objects first; libcjson.so.1, still on the
    # link line through xr_core's interface, is then unused and --as-needed drops it.
    target_sources(xray-auto-lib PRIVATE $<TARGET_OBJECTS:xr_cjson>)
  else()
    message(STATUS "libxray-auto.so links libcjson.so.1: ${_xr_cj_why}")
  endif()
else()
  message(STATUS "libxray-auto.so links libcjson.so.1: XR_CJSON_BUILTIN is OFF")
endif()
