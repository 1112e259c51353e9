// The C API's header compiled as C++ (-Wall -Wextra -pedantic -Werror, C++11): the header-only
// dlsym wrappers in a C++ translation unit. integration.api runs it with and without the
// preload: "begin <rc> annotation <rc> header <rc> end <rc> version <on|off>".
#include <xray-auto.h>

#include <cstdio>

int main()
{
  char buf[256];
  int begin = xray_begin_segment("api-header-cxx", nullptr);
  int annotation = xray_put_annotation_bool("cxx", 1);
  int header = xray_trace_header(buf, sizeof buf);
  int end = xray_end_segment();

  std::printf("begin %d annotation %d header %d end %d version %s flags %u\n", begin, annotation,
              header > 0 ? 0 : header, end, xray_version() ? "on" : "off",
              XRAY_STATUS_FLAGS(429));
  return 0;
}
