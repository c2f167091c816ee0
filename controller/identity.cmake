# The identity service (POST /v1/certify).
target_sources(strait-controller PRIVATE ${CMAKE_CURRENT_LIST_DIR}/identity.c)
