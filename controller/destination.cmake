# The destination service (GET /v1/resolve) and its pure model (dmodel.c).
target_sources(strait-controller PRIVATE ${CMAKE_CURRENT_LIST_DIR}/destination.c
               ${CMAKE_CURRENT_LIST_DIR}/dmodel.c)

st_unit_test(test_dmodel SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dmodel.c
             ${CMAKE_CURRENT_LIST_DIR}/dmodel.c LIBS st_json st_core)

# The client library (lib/dest) until the top-level list of parts names it.
if(NOT TARGET st_dest AND EXISTS ${CMAKE_SOURCE_DIR}/lib/dest/CMakeLists.txt)
    add_subdirectory(${CMAKE_SOURCE_DIR}/lib/dest ${CMAKE_BINARY_DIR}/lib/dest)
endif()
