# The workload endpoints controller (Endpoints for ExternalWorkloads).
target_sources(strait-controller PRIVATE ${CMAKE_CURRENT_LIST_DIR}/endpoints.c)
