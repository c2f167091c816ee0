# The identity API's wire format and its blocking client (include/strait/certify.h).
add_library(st_certify STATIC ${CMAKE_CURRENT_LIST_DIR}/certify.c)
target_link_libraries(st_certify PUBLIC st_tls st_http1 st_ev st_json st_core)

# The client test runs a small HTTPS server on st_httpd.
st_unit_test(test_certify SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_certify.c
             LIBS st_certify st_httpd)

st_fuzz_target(certify_request SOURCES ${CMAKE_SOURCE_DIR}/fuzz/fuzz_certify_request.c
               LIBS st_certify)

# A driver for tests/test_identity.py, which runs it against strait-controller.
add_executable(certify-check ${CMAKE_CURRENT_LIST_DIR}/certify_check.c)
target_link_libraries(certify-check PRIVATE st_certify)
