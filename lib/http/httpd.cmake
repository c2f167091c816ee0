# The control plane's HTTP/1.1 server over plain TCP or TLS (include/strait/httpd.h).
add_library(st_httpd STATIC ${CMAKE_CURRENT_LIST_DIR}/httpd.c)
target_link_libraries(st_httpd PUBLIC st_http1 st_ev st_tls st_core)

st_unit_test(test_httpd SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_httpd.c LIBS st_httpd)
