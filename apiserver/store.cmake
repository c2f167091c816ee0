# Object store (store.h: SQLite objects, resourceVersion, event window, watches)
# and label/field selectors (selector.h).
add_library(apiserver_store STATIC store.c selector.c)
target_include_directories(apiserver_store PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(apiserver_store PUBLIC st_core PkgConfig::SQLITE3 PkgConfig::JANSSON)

st_unit_test(test_store SOURCES test_store.c LIBS apiserver_store)
st_unit_test(test_selector SOURCES test_selector.c LIBS apiserver_store)
st_fuzz_target(selector SOURCES ${CMAKE_SOURCE_DIR}/fuzz/fuzz_selector.c LIBS apiserver_store)
