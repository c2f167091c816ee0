# Patch engine (patch.h): JSON patch, JSON merge patch, strategic merge patch.
add_library(apiserver_patch STATIC patch.c patch_schema.c)
target_include_directories(apiserver_patch PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(apiserver_patch PUBLIC st_core PkgConfig::JANSSON)

st_unit_test(test_patch SOURCES test_patch.c LIBS apiserver_patch)
st_fuzz_target(patch SOURCES ${CMAKE_SOURCE_DIR}/fuzz/fuzz_patch.c LIBS apiserver_patch)
