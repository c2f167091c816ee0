# Kubernetes protobuf request bodies (proto.h): decoder and message tables.
add_library(apiserver_proto STATIC proto.c proto_schema.c)
target_include_directories(apiserver_proto PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(apiserver_proto PUBLIC st_core PkgConfig::JANSSON)

st_unit_test(test_proto SOURCES test_proto.c proto_schema.c LIBS st_core PkgConfig::JANSSON)
target_compile_definitions(test_proto PRIVATE
    PROTO_TESTDATA="${CMAKE_CURRENT_SOURCE_DIR}/testdata/proto")
st_fuzz_target(proto SOURCES ${CMAKE_SOURCE_DIR}/fuzz/fuzz_proto.c LIBS apiserver_proto)
