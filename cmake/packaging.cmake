# Installation and the Debian package.  include() this from the top-level
# CMakeLists.txt, after the xray-auto-lib target is defined.
#
#   cmake --install <build> [--prefix P]      P/lib/libxray-auto.so, P/bin/xray-auto,
#                                             P/include/xray-auto.h,
#                                             P/lib/pkgconfig/xray-auto.pc,
#                                             P/share/doc/libxray-auto/copyright
#   cmake --build <build> --target deb        <build>/libxray-auto_<version>_<arch>.deb
#   (or: cd <build> && cpack -G DEB)
#
# The library directory follows GNUInstallDirs, decided when the install runs
# rather than when the project is configured: a prefix of /usr (the Debian
# package, `cmake --install <build> --prefix /usr`) gets Debian's multiarch
# directory lib/<triplet>, any other prefix gets lib.  A CMAKE_INSTALL_LIBDIR
# other than lib (given on the command line, or GNUInstallDirs' choice for a
# project configured with prefix /usr) is used as it is.  The tool (bin/xray-auto) is
# installed by tools/xray-auto; `xray-auto run` looks for the library in
# ../lib and ../lib/<triplet> next to itself, so both layouts work.
include_guard(GLOBAL)
include(GNUInstallDirs)

set(XRAY_AUTO_PACKAGE_MAINTAINER
  "libxray-auto maintainers <maintainers@users.noreply.h-seed-70dcf305.example>"
  CACHE STRING "Maintainer field of the Debian package")
# The source tree has no license file yet.  When one is added as LICENSE at the
# top level, its text goes into the package's copyright file; name it here too
# (an SPDX identifier, e.g. Apache-2.0 or MIT).
set(XRAY_AUTO_LICENSE "unspecified"
  CACHE STRING "License short name (SPDX) for the Debian copyright file's License field")

# -- install rules --------------------------------------------------------------------------
if(CMAKE_LIBRARY_ARCHITECTURE AND CMAKE_INSTALL_LIBDIR STREQUAL "lib"
   AND EXISTS /etc/debian_version)
  # Runs before the rules below; they read XR_INSTALL_LIBDIR at install time.
  install(CODE "
    if(CMAKE_INSTALL_PREFIX MATCHES \"^/usr/?$\")
      set(XR_INSTALL_LIBDIR \"lib/${CMAKE_LIBRARY_ARCHITECTURE}\")
    else()
      set(XR_INSTALL_LIBDIR \"lib\")
    endif()")
else()
  install(CODE "set(XR_INSTALL_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")")
endif()

# Mode 0644 on Debian (CMAKE_INSTALL_SO_NO_EXE), as its policy wants for shared libraries.
install(TARGETS xray-auto-lib LIBRARY DESTINATION "\${XR_INSTALL_LIBDIR}")
install(FILES include/xray-auto.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# xray-auto.pc holds absolute paths, so it is written when the install runs, for the prefix
# it runs with (DESTDIR excluded: the package's file says /usr).  Each distinct content gets
# a file of its own in the build tree: concurrent installs (two cpack runs) never share one.
install(CODE "
  set(XR_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  if(IS_ABSOLUTE \"\${XR_INSTALL_LIBDIR}\")
    set(XR_PC_LIBDIR \"\${XR_INSTALL_LIBDIR}\")
  else()
    set(XR_PC_LIBDIR \"\\\${exec_prefix}/\${XR_INSTALL_LIBDIR}\")
  endif()
  if(IS_ABSOLUTE \"${CMAKE_INSTALL_INCLUDEDIR}\")
    set(XR_PC_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  else()
    set(XR_PC_INCLUDEDIR \"\\\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}\")
  endif()
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  file(READ \"${CMAKE_CURRENT_LIST_DIR}/xray-auto.pc.in\" xr_pc)
  string(CONFIGURE \"\${xr_pc}\" xr_pc @ONLY)
  string(MD5 xr_pc_hash \"\${xr_pc}\")
  set(xr_pc_dir \"${CMAKE_BINARY_DIR}/CMakeFiles/xray-auto-pc/\${xr_pc_hash}\")
  if(NOT EXISTS \"\${xr_pc_dir}/xray-auto.pc\")
    string(RANDOM LENGTH 12 xr_tmp)
    file(WRITE \"\${xr_pc_dir}/.\${xr_tmp}\" \"\${xr_pc}\")
    file(RENAME \"\${xr_pc_dir}/.\${xr_tmp}\" \"\${xr_pc_dir}/xray-auto.pc\")
  endif()
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/\${XR_INSTALL_LIBDIR}/pkgconfig\"
       TYPE FILE FILES \"\${xr_pc_dir}/xray-auto.pc\")")

# Debian's copyright file (machine-readable format): the License field lives here, since a
# binary package's control file has no License field.
if(EXISTS "${CMAKE_SOURCE_DIR}/LICENSE")
  file(READ "${CMAKE_SOURCE_DIR}/LICENSE" _xr_license_text)
  string(REGEX REPLACE "\n$" "" _xr_license_text "${_xr_license_text}")
  string(REGEX REPLACE "\n\n" "\n.\n" _xr_license_text "${_xr_license_text}")
  string(REGEX REPLACE "\n" "\n " XR_LICENSE_TEXT " ${_xr_license_text}")
else()
  set(XR_LICENSE_TEXT " The source tree declares no license yet; configure with
 -DXRAY_AUTO_LICENSE=<SPDX identifier> and add its text as LICENSE.")
endif()
# cJSON compiled into the library (cmake/cjson.cmake): its MIT notice goes along.
set(XR_CJSON_COPYRIGHT "")
if(XR_CJSON_IS_BUILTIN AND EXISTS "${XR_CJSON_BUILTIN_DIR}/LICENSE")
  file(READ "${XR_CJSON_BUILTIN_DIR}/LICENSE" _xr_cj_text)
  string(REGEX REPLACE "\n+$" "" _xr_cj_text "${_xr_cj_text}")
  string(REGEX MATCH "^Copyright \\(c\\) ([^\n]*)" _xr_cj_line "${_xr_cj_text}")
  set(_xr_cj_holder "${CMAKE_MATCH_1}")
  if(NOT _xr_cj_holder)
    set(_xr_cj_holder "Dave Gamble and cJSON contributors")
  endif()
  string(REGEX REPLACE "\n\n" "\n.\n" _xr_cj_text "${_xr_cj_text}")
  string(REGEX REPLACE "\n" "\n " _xr_cj_text " ${_xr_cj_text}")
  set(XR_CJSON_COPYRIGHT "
Files: cJSON.c cJSON.h
Copyright: ${_xr_cj_holder}
License: MIT
Comment: cJSON, compiled into libxray-auto.so from Debian's cjson source.

License: MIT
${_xr_cj_text}
")
endif()
file(CONFIGURE OUTPUT "${CMAKE_BINARY_DIR}/debian/copyright" @ONLY CONTENT
"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: libxray-auto
Upstream-Contact: @XRAY_AUTO_PACKAGE_MAINTAINER@

Files: *
Copyright: libxray-auto contributors
License: @XRAY_AUTO_LICENSE@

License: @XRAY_AUTO_LICENSE@
@XR_LICENSE_TEXT@
@XR_CJSON_COPYRIGHT@")
install(FILES "${CMAKE_BINARY_DIR}/debian/copyright" DESTINATION ${CMAKE_INSTALL_DOCDIR})

# -- CPack: the Debian package --------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME libxray-auto)
set(CPACK_PACKAGE_VENDOR "libxray-auto")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${XRAY_AUTO_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "AWS X-Ray tracing for unmodified programs (LD_PRELOAD)")
# The extended description, in lines of Debian's width (CPack does not wrap).
set(CPACK_PACKAGE_DESCRIPTION [[
libxray-auto.so, preloaded into a program (LD_PRELOAD, e.g. ENV in a
Dockerfile), traces its libcurl transfers, libpq and MariaDB/MySQL client
statements, HTTP/1.x over plain sockets and inbound HTTP requests as AWS
X-Ray segments, sent over UDP to the X-Ray daemon (AWS_XRAY_DAEMON_ADDRESS).
No code change and no rebuild of the program.
.
This package holds the library, the xray-auto tool (a local collector and a
launcher), and the C API header with its pkg-config file.]])
# Debian ships stripped binaries.
set(CPACK_STRIP_FILES ON)
if(EXISTS "${CMAKE_SOURCE_DIR}/LICENSE")
  set(CPACK_RESOURCE_FILE_LICENSE "${CMAKE_SOURCE_DIR}/LICENSE")
endif()

set(CPACK_DEBIAN_PACKAGE_NAME libxray-auto)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)   # libxray-auto_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${XRAY_AUTO_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the ELF files' needs (dpkg-shlibdeps: libc6 and libcjson1 with the minimum
# versions their symbols require).  Without dpkg-dev, a fixed list: what Debian 12's
# dpkg-shlibdeps gives for this build.
find_program(XR_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(XR_FILE_PROGRAM file)
if(XR_DPKG_SHLIBDEPS AND XR_FILE_PROGRAM)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(STATUS "dpkg-shlibdeps or file not found (apt-get install dpkg-dev file): "
                 "the Debian package gets a fixed Depends list")
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6 (>= 2.34), libcjson1 (>= 1.7.13)")
endif()
# Database errors carry the program's stack when libunwind is there (dlopen'ed, optional).
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libunwind8")
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "__pycache__")

include(CPack)

add_custom_target(deb
  COMMAND "${CMAKE_CPACK_COMMAND}" -G DEB --config "${CMAKE_BINARY_DIR}/CPackConfig.cmake"
  WORKING_DIRECTORY "${CMAKE_BINARY_DIR}"
  DEPENDS xray-auto-lib xray-auto
  COMMENT "Building the Debian package libxray-auto"
  VERBATIM)
