# Authentication and authorization (auth.h): tokens, RBAC, reviews, token Secrets.
add_library(apiserver_auth STATIC auth.c)
target_include_directories(apiserver_auth PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(apiserver_auth PUBLIC apiserver_store st_core PkgConfig::JANSSON
                      OpenSSL::Crypto)

st_unit_test(test_auth SOURCES test_auth.c LIBS apiserver_auth)
st_fuzz_target(auth_review SOURCES ${CMAKE_SOURCE_DIR}/fuzz/fuzz_auth_review.c
               LIBS apiserver_auth)
