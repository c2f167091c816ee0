# The destination service (GET /v1/resolve) and its pure model (dmodel.c).
target_sources(strait-controller PRIVATE ${CMAKE_CURRENT_LIST_DIR}/destination.c
               ${CMAKE_CURRENT_LIST_DIR}/dmodel.c)

st_unit_test(test_dmodel SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dmodel.c
             ${CMAKE_CURRENT_LIST_DIR}/dmodel.c LIBS st_json st_core)


# Resolving by ClusterIP against a real apiserver and controller (pytest, like tests/).
add_test(NAME it.test_destination_ip
         COMMAND ${ST_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_LIST_DIR}/test_destination_ip.py
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests)
set_tests_properties(it.test_destination_ip PROPERTIES
    LABELS integration TIMEOUT 900
    ENVIRONMENT "STRAIT_BIN=${CMAKE_BINARY_DIR}/bin;PYTHONDONTWRITEBYTECODE=1")
