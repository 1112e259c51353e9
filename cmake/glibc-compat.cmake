# The glibc build loads on glibc 2.26 and later (AWS Lambda provided.al2):
#  - xr_core and xray-auto-lib are compiled with src/glibc_compat.h
#    force-included, which binds the functions glibc 2.34 moved into
#    libc.so.6 to their old symbol versions;
#  - the library names libdl.so.2 and libpthread.so.0 as DT_NEEDED, where
#    glibc before 2.34 defines those functions. Built on 2.34 or later the
#    two are empty stubs that --as-needed would drop, hence the push-state
#    group (one item, so that CMake keeps it in place), and -ldl would find
#    the empty libdl.a, hence the file names.
# tests/check_elf.sh (elf.contract) checks both. Nothing happens when the C
# library is not glibc (cmake/musl.cmake builds the musl library apart).
# include() from the top-level CMakeLists.txt after both targets.
include_guard(GLOBAL)
include(CheckSymbolExists)

check_symbol_exists(__GLIBC__ "features.h" XR_LIBC_IS_GLIBC)
if(NOT XR_LIBC_IS_GLIBC)
  return()
endif()

foreach(_xr_t IN ITEMS xr_core xray-auto-lib)
  target_compile_options(${_xr_t} PRIVATE
    "SHELL:-include ${PROJECT_SOURCE_DIR}/src/glibc_compat.h")
endforeach()
target_link_libraries(xray-auto-lib PRIVATE
  "-Wl,--push-state,--no-as-needed,-l:libdl.so.2,-l:libpthread.so.0,--pop-state")
