# AddressSanitizer + UndefinedBehaviorSanitizer for the core, the collector tool and the unit
# tests.  include() this from the top-level CMakeLists.txt after every target is defined (the
# tests' directories included); the same file is the test's driver script (cmake -P, bottom).
#
#   XR_SANITIZE=address,undefined   (a -fsanitize= list; empty, the default: no sanitizer)
#       xr_core, xray-auto (collector, run, doctor) and every target of tests/unit get
#       -fsanitize=<list> -fno-omit-frame-pointer -fno-sanitize-recover=all; executables that
#       link xr_core get the sanitizer runtimes through xr_core's link interface.
#       The LD_PRELOAD library is NOT built in such a tree (it is left out of ALL, and the
#       Lambda layer with it): an ASan runtime has to be the first library of a process, so a
#       sanitized libxray-auto.so could not be preloaded into arbitrary hosts; its memory
#       errors are valgrind's job (tests/integration/test_valgrind.py).  A sanitized tree is
#       for `cmake --build <dir> --target xr_sanitize` and `ctest -L unit`, nothing else.
#       It also registers sanitize.collector (label unit): the sanitized `xray-auto collect`,
#       `run --collect` and `doctor` as processes (tests/valgrind/collector_datagrams.py).
#
#   Test sanitize.unit (normal trees with BUILD_TESTING, label sanitize): configures this same
#       source tree with XR_SANITIZE=address,undefined into ${CMAKE_BINARY_DIR}/sanitize, builds
#       only target xr_sanitize there and runs that tree's `ctest -L unit` with
#         ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=...
#         UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=...
#       It fails when a test fails or when any sanitizer report was written, to a report file
#       or to the tests' output (so that a report in a child process whose exit status nobody
#       checks fails it too); the reports are printed.  About 1.5 min from scratch on two busy
#       cores (1 min of it compiling), 45 s when only the tests run again.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  include_guard(GLOBAL)
  set(XR_SANITIZE "" CACHE STRING
      "-fsanitize= list for xr_core, xray-auto and the unit tests (address,undefined); empty: none")

  if(XR_SANITIZE)
    set(_xr_san_compile -fsanitize=${XR_SANITIZE} -fno-omit-frame-pointer
        -fno-sanitize-recover=all)
    set(_xr_san_link -fsanitize=${XR_SANITIZE})
    set(_xr_san_targets xray-auto)
    if(BUILD_TESTING)
      get_property(_xr_unit_targets DIRECTORY "${PROJECT_SOURCE_DIR}/tests/unit"
                   PROPERTY BUILDSYSTEM_TARGETS)
      list(APPEND _xr_san_targets ${_xr_unit_targets})
    endif()

    target_compile_options(xr_core PRIVATE ${_xr_san_compile})
    # Whatever links the instrumented archive needs the runtimes (bench_emit too).
    target_link_options(xr_core INTERFACE ${_xr_san_link})
    foreach(_xr_t IN LISTS _xr_san_targets)
      target_compile_options(${_xr_t} PRIVATE ${_xr_san_compile})
      get_target_property(_xr_type ${_xr_t} TYPE)
      if(_xr_type STREQUAL "EXECUTABLE")
        target_link_options(${_xr_t} PRIVATE ${_xr_san_link})
      endif()
    endforeach()

    # Not preloadable when sanitized (see the top of this file): never built here.
    foreach(_xr_t IN ITEMS xray-auto-lib lambda_layer)
      if(TARGET ${_xr_t})
        set_target_properties(${_xr_t} PROPERTIES EXCLUDE_FROM_ALL ON)
      endif()
    endforeach()
    add_custom_target(xr_sanitize DEPENDS ${_xr_san_targets})
    message(STATUS "XR_SANITIZE=${XR_SANITIZE}: ${_xr_san_targets} and xr_core are "
                   "instrumented; libxray-auto.so is not built in this tree")

    if(BUILD_TESTING)
      # The collector tool as a process: datagrams (valid, malformed, truncated, oversized),
      # `run --collect` and `doctor`.  XR_MAIN_BUILD (set by sanitize.unit) names a normal
      # tree whose libxray-auto.so and curl_client `run` uses; without it that part is left out.
      add_test(NAME sanitize.collector
               COMMAND /usr/bin/python3
                       "${PROJECT_SOURCE_DIR}/tests/valgrind/collector_datagrams.py"
                       $<TARGET_FILE:xray-auto>)
      set_tests_properties(sanitize.collector PROPERTIES LABELS unit TIMEOUT 120)
    endif()
  elseif(BUILD_TESTING)
    cmake_host_system_information(RESULT _xr_ncpu QUERY NUMBER_OF_LOGICAL_CORES)
    add_test(NAME sanitize.unit
             COMMAND "${CMAKE_COMMAND}"
                     "-DXR_SAN_SOURCE=${PROJECT_SOURCE_DIR}"
                     "-DXR_SAN_BINARY=${CMAKE_BINARY_DIR}/sanitize"
                     "-DXR_SAN_MAIN=${CMAKE_BINARY_DIR}"
                     "-DXR_SAN_GENERATOR=${CMAKE_GENERATOR}"
                     "-DXR_SAN_C_COMPILER=${CMAKE_C_COMPILER}"
                     "-DXR_SAN_BUILD_TYPE=${CMAKE_BUILD_TYPE}"
                     "-DXR_SAN_JOBS=${_xr_ncpu}"
                     -P "${CMAKE_CURRENT_LIST_FILE}")
    # It compiles with every core: PROCESSORS keeps `ctest -j` from running other tests
    # beside it, whose timing it would disturb.
    set_tests_properties(sanitize.unit PROPERTIES LABELS sanitize TIMEOUT 600
                         PROCESSORS ${_xr_ncpu})
  endif()
  return()
endif()

# ---------------------------------------------------------------------------------------------
# Script mode: the driver of sanitize.unit.
#   cmake -DXR_SAN_SOURCE=<source> -DXR_SAN_BINARY=<sanitized tree> -DXR_SAN_MAIN=<normal tree>
#         [-DXR_SAN_GENERATOR=..] [-DXR_SAN_C_COMPILER=..] [-DXR_SAN_BUILD_TYPE=..]
#         [-DXR_SAN_JOBS=N] [-DXR_SAN_LIST=address,undefined] -P sanitize.cmake
# ---------------------------------------------------------------------------------------------
cmake_minimum_required(VERSION 3.18)
foreach(_v XR_SAN_SOURCE XR_SAN_BINARY)
  if(NOT ${_v})
    message(FATAL_ERROR "sanitize.cmake: ${_v} not set")
  endif()
endforeach()
if(NOT XR_SAN_LIST)
  set(XR_SAN_LIST address,undefined)
endif()
if(NOT XR_SAN_BUILD_TYPE)
  set(XR_SAN_BUILD_TYPE RelWithDebInfo)
endif()
if(NOT XR_SAN_JOBS)
  set(XR_SAN_JOBS 2)
endif()

string(TIMESTAMP _t0 "%s")
set(_cfg "${CMAKE_COMMAND}" -S "${XR_SAN_SOURCE}" -B "${XR_SAN_BINARY}"
    "-DCMAKE_BUILD_TYPE=${XR_SAN_BUILD_TYPE}" -DBUILD_TESTING=ON "-DXR_SANITIZE=${XR_SAN_LIST}"
    # musl.cmake would fetch cJSON's source at configure time for a library not built here.
    -DXR_BUILD_MUSL=OFF)
if(XR_SAN_GENERATOR AND NOT EXISTS "${XR_SAN_BINARY}/CMakeCache.txt")
  list(APPEND _cfg -G "${XR_SAN_GENERATOR}")
endif()
if(XR_SAN_C_COMPILER)
  list(APPEND _cfg "-DCMAKE_C_COMPILER=${XR_SAN_C_COMPILER}")
endif()
message(STATUS "sanitize: configuring ${XR_SAN_BINARY} (XR_SANITIZE=${XR_SAN_LIST})")
execute_process(COMMAND ${_cfg} OUTPUT_VARIABLE _out ERROR_VARIABLE _out RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "sanitize: configuring failed (${_rc}):\n${_out}")
endif()

message(STATUS "sanitize: building target xr_sanitize with -j${XR_SAN_JOBS}")
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${XR_SAN_BINARY}" --target xr_sanitize
                        -j ${XR_SAN_JOBS}
                OUTPUT_VARIABLE _out ERROR_VARIABLE _out RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "sanitize: building failed (${_rc}):\n${_out}")
endif()
string(TIMESTAMP _t1 "%s")
math(EXPR _build_s "${_t1} - ${_t0}")

# One report file per process that reported (<prefix>.<pid>): also a child's, whatever its
# parent made of its exit status.
set(_logs "${XR_SAN_BINARY}/sanitizer-reports")
file(REMOVE_RECURSE "${_logs}")
file(MAKE_DIRECTORY "${_logs}")
set(ENV{ASAN_OPTIONS} "detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=${_logs}/asan")
set(ENV{UBSAN_OPTIONS} "halt_on_error=1:print_stacktrace=1:log_path=${_logs}/ubsan")
if(XR_SAN_MAIN)
  set(ENV{XR_MAIN_BUILD} "${XR_SAN_MAIN}")
endif()
# The ctest next to the cmake running this script.
set(_ctest "${CMAKE_CTEST_COMMAND}")
message(STATUS "sanitize: ctest -L unit in ${XR_SAN_BINARY}")
execute_process(COMMAND "${_ctest}" -L unit -j ${XR_SAN_JOBS} --output-on-failure
                WORKING_DIRECTORY "${XR_SAN_BINARY}" RESULT_VARIABLE _test_rc)
string(TIMESTAMP _t2 "%s")
math(EXPR _test_s "${_t2} - ${_t1}")

file(GLOB _reports "${_logs}/*")
foreach(_r IN LISTS _reports)
  file(READ "${_r}" _text)
  message("==== sanitizer report ${_r}\n${_text}")
endforeach()
list(LENGTH _reports _nreports)
# UBSan next to ASan (gcc 12) writes its reports to stderr whatever log_path says: the tests'
# recorded output is searched too.
set(_last "${XR_SAN_BINARY}/Testing/Temporary/LastTest.log")
if(EXISTS "${_last}")
  file(STRINGS "${_last}" _stderr_reports
       REGEX "(: runtime error: |ERROR: (Address|Leak|UndefinedBehavior)Sanitizer)")
  foreach(_r IN LISTS _stderr_reports)
    message("==== sanitizer report in the tests' output: ${_r}")
  endforeach()
  list(LENGTH _stderr_reports _n)
  math(EXPR _nreports "${_nreports} + ${_n}")
endif()
message(STATUS "sanitize: build ${_build_s} s, tests ${_test_s} s, ctest exit ${_test_rc}, "
               "sanitizer reports ${_nreports}")
if(NOT _test_rc EQUAL 0 OR _nreports GREATER 0)
  message(FATAL_ERROR "sanitize: FAILED (ctest exit ${_test_rc}, ${_nreports} sanitizer reports)")
endif()
message(STATUS "sanitize: clean")
