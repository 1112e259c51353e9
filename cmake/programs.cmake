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

# $<1:...> keeps multi-config generators from appending a per-config subdir.
set_target_properties(curl_client xr_fetch rtld_local_host bench_curl PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>"
  LIBRARY_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")

# The benchmark's HTTP peer: C, so that its cost does not blur the client's.
add_executable(bench_httpd "${XR_SOURCE_DIR}/tests/bench/bench_httpd.c")
set_target_properties(bench_httpd PROPERTIES RUNTIME_OUTPUT_DIRECTORY "$<1:${CMAKE_BINARY_DIR}>")
