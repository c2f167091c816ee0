# The destination service (GET /v1/resolve) and its pure model (dmodel.c).
target_sources(strait-controller PRIVATE ${CMAKE_CURRENT_LIST_DIR}/destination.c
               ${CMAKE_CURRENT_LIST_DIR}/dmodel.c)

st_unit_test(test_dmodel SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dmodel.c
             ${CMAKE_CURRENT_LIST_DIR}/dmodel.c LIBS st_json st_core)

