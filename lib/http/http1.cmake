# The strict HTTP/1.1 parser (include/strait/http1.h): library, unit test and
# fuzz targets for request heads, response heads and chunked bodies.
add_library(st_http1 STATIC ${CMAKE_CURRENT_LIST_DIR}/http1.c)
target_link_libraries(st_http1 PUBLIC st_core)

st_unit_test(test_http1 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http1.c LIBS st_http1)

st_fuzz_target(http1_request SOURCES ${CMAKE_SOURCE_DIR}/fuzz/fuzz_http1_request.c
               LIBS st_http1)
st_fuzz_target(http1_response SOURCES ${CMAKE_SOURCE_DIR}/fuzz/fuzz_http1_response.c
               LIBS st_http1)
st_fuzz_target(http1_chunked SOURCES ${CMAKE_SOURCE_DIR}/fuzz/fuzz_http1_chunked.c
               LIBS st_http1)
