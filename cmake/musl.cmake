# libxray-auto-musl.so: the library for musl processes (Alpine and other
# musl-based images). A glibc build cannot run there (preload-craft.md 4.7,
# E8b, E10b), so the same sources are compiled again with musl-gcc (Debian:
# musl-tools) into ${CMAKE_BINARY_DIR}/libxray-auto-musl.so:
#  - sources: those of xr_core and xray-auto-lib, as listed when this file is
#    included (include() it after both targets are complete);
#  - flags: the directory's warning set and definitions, CMAKE_C_FLAGS for
#    the build type, and the library's contract flags (PIC, hidden
#    visibility, initial-exec TLS); linked with xray-auto-lib's link options
#    (version script, -z lazy, -Bsymbolic-functions, --no-undefined ...);
#  - headers: musl's only. libcurl, libpq, libmariadb, libunwind and kernel
#    headers (nothing of them is linked) come through symlinks in
#    ${CMAKE_BINARY_DIR}/musl/include, so that no glibc header is on the path;
#  - cJSON: compiled in, hidden (Debian's libcjson.so.1 is glibc-built: it
#    needs __sprintf_chk), from the source cmake/cjson.cmake finds
#    (XR_CJSON_SOURCE_DIR, or Debian's source package), whatever
#    XR_CJSON_BUILTIN says for the glibc build.
# The musl build lacks the glibc-only exports XR_MUSL_GLIBC_ONLY (hooks/net.c).
#
# Target `musl` (part of ALL) builds the library and, with BUILD_TESTING, the
# test program musl_client (tests/integration/musl_client.c); test
# elf.contract.musl checks the library. Without musl-gcc or cJSON's source
# nothing is built; the reason goes to the configure log and to
# ${CMAKE_BINARY_DIR}/libxray-auto-musl.skip, where the tests read it and skip.
include_guard(GLOBAL)

option(XR_BUILD_MUSL "Build libxray-auto-musl.so when musl-gcc is found" ON)

set(XR_MUSL_GLIBC_ONLY __read_chk __recv_chk __recvfrom_chk fcntl64 sendfile64 closefrom)
set(_xr_musl_lib "${CMAKE_BINARY_DIR}/libxray-auto-musl.so")
set(_xr_musl_skip_file "${CMAKE_BINARY_DIR}/libxray-auto-musl.skip")
set(_xr_musl_dir "${CMAKE_BINARY_DIR}/musl")
include(${CMAKE_CURRENT_LIST_DIR}/cjson.cmake) # xr_cjson_source

# Symlinks the non-libc headers the sources include into ${inc}; cJSON's
# from ${cjson}.
function(_xr_musl_headers inc cjson why)
  find_path(XR_MUSL_UNWIND_DIR libunwind.h)
  find_path(XR_MUSL_KERNEL_DIR linux/close_range.h)
  find_path(XR_MUSL_KERNEL_ASM_DIR asm/types.h)
  foreach(v XR_MUSL_UNWIND_DIR XR_MUSL_KERNEL_DIR XR_MUSL_KERNEL_ASM_DIR)
    if(NOT ${v})
      set(${why} "${v} not found (libunwind-dev, linux-libc-dev)" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  file(REMOVE_RECURSE "${inc}")
  file(MAKE_DIRECTORY "${inc}/cjson")
  set(links
      "${CURL_HEADER_DIR}/curl" curl
      "${MARIADB_HEADER_DIR}" mariadb
      "${XR_MUSL_KERNEL_DIR}/linux" linux
      "${XR_MUSL_KERNEL_DIR}/asm-generic" asm-generic
      "${XR_MUSL_KERNEL_ASM_DIR}/asm" asm
      "${cjson}/cJSON.h" cjson/cJSON.h)
  foreach(h libpq-fe.h postgres_ext.h pg_config_ext.h)
    list(APPEND links "${PQ_HEADER_DIR}/${h}" "${h}")
  endforeach()
  file(GLOB unwind RELATIVE "${XR_MUSL_UNWIND_DIR}" "${XR_MUSL_UNWIND_DIR}/libunwind*.h")
  foreach(h IN LISTS unwind)
    list(APPEND links "${XR_MUSL_UNWIND_DIR}/${h}" "${h}")
  endforeach()
  while(links)
    list(POP_FRONT links from to)
    if(NOT EXISTS "${from}")
      set(${why} "header ${from} not found" PARENT_SCOPE)
      return()
    endif()
    file(CREATE_LINK "${from}" "${inc}/${to}" SYMBOLIC)
  endwhile()
endfunction()

set(_xr_musl_why "")
if(NOT XR_BUILD_MUSL)
  set(_xr_musl_why "XR_BUILD_MUSL is OFF")
else()
  find_program(XR_MUSL_GCC musl-gcc)
  if(NOT XR_MUSL_GCC)
    set(_xr_musl_why "musl-gcc not found (Debian: apt-get install musl-tools)")
  endif()
endif()
if(NOT _xr_musl_why)
  xr_cjson_source(XR_MUSL_CJSON_DIR _xr_musl_why)
endif()
if(NOT _xr_musl_why)
  _xr_musl_headers("${_xr_musl_dir}/include" "${XR_MUSL_CJSON_DIR}" _xr_musl_why)
endif()

if(_xr_musl_why)
  message(STATUS "libxray-auto-musl.so will not be built: ${_xr_musl_why}")
  file(WRITE "${_xr_musl_skip_file}" "${_xr_musl_why}\n")
  if(BUILD_TESTING)
    add_test(NAME elf.contract.musl
             COMMAND sh -c "echo \"SKIP: $1\"; exit 77" sh "${_xr_musl_why}")
    set_tests_properties(elf.contract.musl PROPERTIES SKIP_RETURN_CODE 77)
  endif()
  return()
endif()
file(REMOVE "${_xr_musl_skip_file}")
message(STATUS "libxray-auto-musl.so: ${XR_MUSL_GCC}, cJSON from ${XR_MUSL_CJSON_DIR}")

# ---- flags ---------------------------------------------------------------
string(TOUPPER "${CMAKE_BUILD_TYPE}" _xr_cfg)
separate_arguments(_xr_musl_base UNIX_COMMAND "${CMAKE_C_FLAGS} ${CMAKE_C_FLAGS_${_xr_cfg}}")
list(APPEND _xr_musl_base -fPIC -fvisibility=hidden)
get_directory_property(_xr_warn DIRECTORY "${PROJECT_SOURCE_DIR}" COMPILE_OPTIONS)
get_directory_property(_xr_defs DIRECTORY "${PROJECT_SOURCE_DIR}" COMPILE_DEFINITIONS)
if(CMAKE_C_EXTENSIONS)
  set(_xr_std "-std=gnu${CMAKE_C_STANDARD}")
else()
  set(_xr_std "-std=c${CMAKE_C_STANDARD}")
endif()
set(_xr_musl_cflags ${_xr_std} ${_xr_musl_base} -ftls-model=initial-exec ${_xr_warn}
    "-I${_xr_musl_dir}/include" "-I${_xr_musl_dir}/include/mariadb")
foreach(_xr_d IN LISTS _xr_defs)
  list(APPEND _xr_musl_cflags "-D${_xr_d}")
endforeach()
get_target_property(_xr_musl_ldflags xray-auto-lib LINK_OPTIONS)

if(POLICY CMP0116)
  cmake_policy(SET CMP0116 NEW)
endif()

# One object per source, so that an edit recompiles only its file. DEPFILE
# needs CMake 3.20 with Makefile generators; older ones scan the includes.
function(_xr_musl_object src obj flags out_objs)
  get_filename_component(d "${obj}" DIRECTORY)
  file(MAKE_DIRECTORY "${d}")
  file(RELATIVE_PATH rel "${PROJECT_SOURCE_DIR}" "${src}")
  if(CMAKE_VERSION VERSION_LESS 3.20)
    set(deps IMPLICIT_DEPENDS C "${src}")
  else()
    set(deps DEPFILE "${obj}.d")
  endif()
  add_custom_command(OUTPUT "${obj}"
    COMMAND "${XR_MUSL_GCC}" ${flags} -MD -MF "${obj}.d" -c "${src}" -o "${obj}"
    DEPENDS "${src}" ${deps}
    COMMENT "musl-gcc ${rel}"
    VERBATIM COMMAND_EXPAND_LISTS)
  set(${out_objs} ${${out_objs}} "${obj}" PARENT_SCOPE)
endfunction()

set(_xr_musl_objs "")
foreach(_xr_t IN ITEMS xr_core xray-auto-lib)
  get_target_property(_xr_srcs ${_xr_t} SOURCES)
  get_target_property(_xr_tdir ${_xr_t} SOURCE_DIR)
  foreach(_xr_s IN LISTS _xr_srcs)
    if(NOT _xr_s MATCHES "\\.c$")
      continue()
    endif()
    if(NOT IS_ABSOLUTE "${_xr_s}")
      set(_xr_s "${_xr_tdir}/${_xr_s}")
    endif()
    file(RELATIVE_PATH _xr_rel "${PROJECT_SOURCE_DIR}" "${_xr_s}")
    _xr_musl_object("${_xr_s}" "${_xr_musl_dir}/obj/${_xr_rel}.o" "${_xr_musl_cflags}"
                    _xr_musl_objs)
  endforeach()
endforeach()
# Third-party code: its own C89, no -Werror (a new Debian revision must not
# break the build), hidden like everything else.
_xr_musl_object("${XR_MUSL_CJSON_DIR}/cJSON.c" "${_xr_musl_dir}/obj/cJSON.c.o"
                "-std=c89;${_xr_musl_base};-fstack-protector-strong" _xr_musl_objs)

add_custom_command(OUTPUT "${_xr_musl_lib}"
  COMMAND "${XR_MUSL_GCC}" -shared -Wl,-soname,libxray-auto-musl.so
          ${_xr_musl_ldflags} -o "${_xr_musl_lib}" ${_xr_musl_objs}
  DEPENDS ${_xr_musl_objs} "${PROJECT_SOURCE_DIR}/hooks/exports.map"
  COMMENT "Linking libxray-auto-musl.so"
  VERBATIM COMMAND_EXPAND_LISTS)
set(_xr_musl_outputs "${_xr_musl_lib}")

if(BUILD_TESTING)
  set(_xr_musl_client "${CMAKE_BINARY_DIR}/musl_client")
  set(_xr_musl_client_src "${PROJECT_SOURCE_DIR}/tests/integration/musl_client.c")
  add_custom_command(OUTPUT "${_xr_musl_client}"
    COMMAND "${XR_MUSL_GCC}" ${_xr_std} ${_xr_musl_base} ${_xr_warn}
            -o "${_xr_musl_client}" "${_xr_musl_client_src}"
    DEPENDS "${_xr_musl_client_src}"
    COMMENT "musl-gcc musl_client"
    VERBATIM COMMAND_EXPAND_LISTS)
  list(APPEND _xr_musl_outputs "${_xr_musl_client}")

  list(JOIN XR_MUSL_GLIBC_ONLY "," _xr_absent)
  add_test(NAME elf.contract.musl
           COMMAND bash "${PROJECT_SOURCE_DIR}/tests/check_elf.sh" "--musl=${_xr_absent}"
                   "${_xr_musl_lib}" "${PROJECT_SOURCE_DIR}/hooks/exports.map")
endif()

add_custom_target(musl ALL DEPENDS ${_xr_musl_outputs})
