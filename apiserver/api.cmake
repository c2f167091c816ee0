# API layer (api.h): routing, discovery, resource registry, CRUD, watch, Table, Status.
add_library(apiserver_api STATIC api.c api_crud.c api_watch.c api_openapi.c
            api_schema.c registry.c table.c)
target_include_directories(apiserver_api PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(apiserver_api PUBLIC apiserver_store apiserver_patch apiserver_auth apiserver_proto st_json st_core
                      PkgConfig::JANSSON m)

# The tests read the CRD manifests in crds/ (parsed with st_json's YAML loader).
st_unit_test(test_api SOURCES test_api.c LIBS apiserver_api st_json)
target_compile_definitions(test_api PRIVATE ST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

st_fuzz_target(api_request SOURCES ${CMAKE_SOURCE_DIR}/fuzz/fuzz_api_request.c LIBS apiserver_api)
