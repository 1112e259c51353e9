# Test / demo / benchmark programs: ordinary libcurl programs that know
# nothing about libxray-auto.so.  include() this from the top-level
# CMakeLists.txt.  All outputs land in ${CMAKE_BINARY_DIR}, next to
# libxray-auto.so.
#
# Targets:
#   curl_client      examples/curl_client.c                 (links libcurl)
#   xr_fetch         tests/integration/rtld_local/fetch.c   -> libxr_fetch.so (links libcurl)
#   rtld_local_host  tests/integration/rtld_local/host.c    (links only ${CMAKE_DL_LIBS})
#   bench_curl       tests/bench/bench_curl.c               (links libcurl)
#   pq_example       examples/pq_example.c                  (links libpq)
#   mysql_example    examples/mysql_example.c               (links libmariadb)
#   bench_sql        tests/bench/bench_sql.c                (links libpq, libmariadb)
#   net_client       examples/net_client.c                  (links only libc)
#   net_server       examples/net_server.c                  (links only libc + Threads)
#   lambda_runtime   examples/lambda/runtime.c              (links libcurl, libpq, cJSON)
include_guard(GLOBAL)

if(NOT DEFINED XR_SOURCE_DIR)
  set(XR_SOURCE_DIR "${CMAKE_SOURCE_DIR}")
endif()

find_package(CURL REQUIRED)

add_executable(curl_client "${XR_SOURCE_DIR}/examples/curl_client.c")
target_link_libraries(curl_client PRIVATE CURL::libcurl)

add_library(xr_fetch SHARED "${XR_SOURCE_DIR}/tests/integration/rtld_local/fetch.c")
target_link_libraries(xr_fetch PRIVATE CURL::libcurl)
set_target_properties(xr_fetch PROPERTIES
  OUTPUT_NAME xr_fetch
  PREFIX "lib"
  C_VISIBILITY_PRESET hidden)

# Must NOT link libcurl: it only reaches libcurl through dlopen(RTLD_LOCAL).
add_executable(rtld_local_host "${XR_SOURCE_DIR}/tests/integration/rtld_local/host.c")
target_link_libraries(rtld_local_host PRIVATE ${CMAKE_DL_LIBS})

add_executable(bench_curl "${XR_SOURCE_DIR}/tests/bench/bench_curl.c")
target_link_libraries(bench_curl PRIVATE CURL::libcurl)

# Database client examples.  pkg-config first (libpq, libmariadb), then the
# usual Debian locations.  The XR_EX_ prefix keeps these apart from whatever
# the library itself looks up for its headers.
find_package(PkgConfig REQUIRED)
pkg_check_modules(XR_EX_LIBPQ QUIET IMPORTED_TARGET libpq)
if(NOT XR_EX_LIBPQ_FOUND)
  find_path(XR_EX_LIBPQ_INCLUDE libpq-fe.h PATH_SUFFIXES postgresql)
  find_library(XR_EX_LIBPQ_LIBRARY pq)
  if(NOT XR_EX_LIBPQ_INCLUDE OR NOT XR_EX_LIBPQ_LIBRARY)
    message(FATAL_ERROR "libpq not found (install libpq-dev): needed by pq_example")
  endif()
  add_library(PkgConfig::XR_EX_LIBPQ INTERFACE IMPORTED)
  set_target_properties(PkgConfig::XR_EX_LIBPQ PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${XR_EX_LIBPQ_INCLUDE}"
    INTERFACE_LINK_LIBRARIES "${XR_EX_LIBPQ_LIBRARY}")
endif()
pkg_check_modules(XR_EX_MARIADB QUIET IMPORTED_TARGET libmariadb)
if(NOT XR_EX_MARIADB_FOUND)
  find_path(XR_EX_MARIADB_INCLUDE mysql.h PATH_SUFFIXES mariadb)
  find_library(XR_EX_MARIADB_LIBRARY mariadb)
  if(NOT XR_EX_MARIADB_INCLUDE OR NOT XR_EX_MARIADB_LIBRARY)
    message(FATAL_ERROR "libmariadb not found (install libmariadb-dev): needed by mysql_example")
  endif()
  add_library(PkgConfig::XR_EX_MARIADB INTERFACE IMPORTED)
  set_target_properties(PkgConfig::XR_EX_MARIADB PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${XR_EX_MARIADB_INCLUDE}"
    INTERFACE_LINK_LIBRARIES "${XR_EX_MARIADB_LIBRARY}")
endif()

add_executable(pq_example "${XR_SOURCE_DIR}/examples/pq_example.c")
target_link_libraries(pq_example PRIVATE PkgConfig::XR_EX_LIBPQ)

# libpq reached through dlopen, bound Debian-style (RTLD_GLOBAL) or
# Ubuntu-style (RTLD_DEEPBIND): headers only, no libpq link.
add_executable(pq_bind_host "${XR_SOURCE_DIR}/tests/integration/pq_bind/pq_bind_host.c")
target_include_directories(pq_bind_host PRIVATE
  $<TARGET_PROPERTY:PkgConfig::XR_EX_LIBPQ,INTERFACE_INCLUDE_DIRECTORIES>)
target_link_libraries(pq_bind_host PRIVATE ${CMAKE_DL_LIBS})

add_executable(mysql_example "${XR_SOURCE_DIR}/examples/mysql_example.c")
target_link_libraries(mysql_example PRIVATE PkgConfig::XR_EX_MARIADB)

# $<1:...> keeps multi-config generators from appending a per-config subdir.
set_target_properties(curl_client xr_fetch rtld_local_host bench_curl pq_example mysql_example
  pq_bind_host
  PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>"
  LIBRARY_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")

# The benchmark's HTTP peer: C, so that its cost does not blur the client's.
add_executable(bench_httpd "${XR_SOURCE_DIR}/tests/bench/bench_httpd.c")
set_target_properties(bench_httpd PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")

# The SQL benchmark's client: an ordinary libpq + libmariadb program (same
# libraries as the examples above).
add_executable(bench_sql "${XR_SOURCE_DIR}/tests/bench/bench_sql.c")
target_link_libraries(bench_sql PRIVATE PkgConfig::XR_EX_LIBPQ PkgConfig::XR_EX_MARIADB)
set_target_properties(bench_sql PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")

# The sockets benchmark's driver (1-byte ping-pong on a pipe, AF_UNIX and TCP
# loopback pairs) and its UDP sink: an ordinary program, no library link.
add_executable(bench_pingpong "${XR_SOURCE_DIR}/tests/bench/bench_pingpong.c")
find_package(Threads REQUIRED)
target_link_libraries(bench_pingpong PRIVATE Threads::Threads)
set_target_properties(bench_pingpong PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")

# A hand-written HTTP/1.1 client on plain sockets (send/recv, writev/readv,
# sendmsg/recvmsg, non-blocking connect) for the sockets layer's tests: libc only.
add_executable(net_client "${XR_SOURCE_DIR}/examples/net_client.c")
set_target_properties(net_client PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")

# A thread-per-connection (or --fork: process-per-connection) HTTP/1.1 server on
# plain sockets, whose /call makes a plain-socket GET: the sockets layer's
# server-side tests.  libc + Threads only.
add_executable(net_server "${XR_SOURCE_DIR}/examples/net_server.c")
find_package(Threads REQUIRED)
target_link_libraries(net_server PRIVATE Threads::Threads)
set_target_properties(net_server PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")

# A Lambda custom runtime in C (aws-lambda-cpp's way of using libcurl) whose
# handler makes a libcurl GET and a libpq query: the Lambda mode's tests.
add_executable(lambda_runtime "${XR_SOURCE_DIR}/examples/lambda/runtime.c")
if(NOT TARGET PkgConfig::CJSON)
  pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
endif()
target_link_libraries(lambda_runtime PRIVATE CURL::libcurl PkgConfig::XR_EX_LIBPQ PkgConfig::CJSON)
set_target_properties(lambda_runtime PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")

# issue 6: ordinary programs, libc + Threads only, the C API through weak references
# (include/ for its header):
# - reliability: a fork storm (threads making plain-socket HTTP requests while they fork,
#   vfork+exec, posix_spawn and system() children) and a 1 000 000-operation soak (both with
#   tests/integration/it_common.h);
# - descriptors and signals: a program that closes every descriptor it did not open
#   (close_range, a close loop, /proc/self/fd, dup2, raw syscall, closefrom) and reuses the
#   numbers for TCP connections while its threads make traced requests; a program whose
#   signal handlers and vfork children write, read and close traced sockets;
# - issue 8, plugins: a program opening segments (plugins_probe, integration.plugins).
foreach(_xr_prog IN ITEMS fork_storm soak fd_hygiene signals plugins_probe)
  add_executable(${_xr_prog} "${XR_SOURCE_DIR}/tests/integration/${_xr_prog}.c")
  target_include_directories(${_xr_prog} PRIVATE "${XR_SOURCE_DIR}/include")
  target_link_libraries(${_xr_prog} PRIVATE Threads::Threads)
  set_target_properties(${_xr_prog} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")
endforeach()

# issue 6, behaviour unchanged: a C++ program throwing through frames and threads while
# libpq connects fail (the library's stack capture loads libunwind): C++ is enabled for it
# alone, and only when a C++ compiler exists; otherwise cxx_exceptions.skip says why and
# integration.cxx_exceptions skips.  The directory's C warning set has C-only flags, so the
# target gets its own list.
include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  add_executable(cxx_exceptions "${XR_SOURCE_DIR}/tests/integration/cxx_exceptions.cc")
  set_property(TARGET cxx_exceptions PROPERTY COMPILE_OPTIONS
               -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wcast-qual -Wundef)
  set_target_properties(cxx_exceptions PROPERTIES
    CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
    RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")
  target_link_libraries(cxx_exceptions PRIVATE PkgConfig::XR_EX_LIBPQ Threads::Threads)
  # include/xray-auto.h as C++ (integration.api): pedantic, C++11.
  add_executable(api_header_cxx "${XR_SOURCE_DIR}/tests/integration/api_header.cc")
  target_include_directories(api_header_cxx PRIVATE "${XR_SOURCE_DIR}/include")
  set_property(TARGET api_header_cxx PROPERTY COMPILE_OPTIONS
               -Wall -Wextra -pedantic -Werror -Wold-style-cast -Wshadow)
  set_target_properties(api_header_cxx PROPERTIES
    CXX_STANDARD 11 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
    RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")
  target_link_libraries(api_header_cxx PRIVATE ${CMAKE_DL_LIBS})
  file(REMOVE "${CMAKE_BINARY_DIR}/cxx_exceptions.skip")
else()
  file(WRITE "${CMAKE_BINARY_DIR}/cxx_exceptions.skip"
       "no C++ compiler found when configuring (install g++: scripts/deps.sh)\n")
endif()

# issue 8, the C API's review: a thread ending with a segment and subsegments open, and
# nested subsegments with traced GETs ended by the segment (api_threads, integration.api and
# the valgrind test); a segment opened while another thread runs a dlopen'ed library's
# constructor (loader_lock_probe + libloader_lock_ctor.so, integration.api). Weak
# references to the API, bound at load time.
foreach(_xr_prog IN ITEMS api_threads loader_lock_probe)
  add_executable(${_xr_prog} "${XR_SOURCE_DIR}/tests/integration/${_xr_prog}.c")
  target_include_directories(${_xr_prog} PRIVATE "${XR_SOURCE_DIR}/include")
  target_link_libraries(${_xr_prog} PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
  target_link_options(${_xr_prog} PRIVATE -Wl,-z,now)
  set_target_properties(${_xr_prog} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")
endforeach()
set_target_properties(loader_lock_probe PROPERTIES ENABLE_EXPORTS ON)
add_library(loader_lock_ctor SHARED "${XR_SOURCE_DIR}/tests/integration/loader_lock_ctor.c")
set_target_properties(loader_lock_ctor PROPERTIES LIBRARY_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")

# The C API (include/xray-auto.h) used header-only: a batch job with a segment, nested
# subsegments, annotations, metadata, the user, errors and a plain-socket GET. Links libc
# only (and libdl where dlsym is not in libc, glibc < 2.34): runs with or without the preload.
add_executable(api_example "${XR_SOURCE_DIR}/examples/api_example.c")
target_include_directories(api_example PRIVATE "${XR_SOURCE_DIR}/include")
target_link_libraries(api_example PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(api_example PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")
