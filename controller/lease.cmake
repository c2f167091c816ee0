# Leader election with a coordination.k8s.io/v1 Lease.
target_sources(strait-controller PRIVATE ${CMAKE_CURRENT_LIST_DIR}/lease.c)
