# The strait-apiserver binary: HTTPS glue (main.c) and the kubeconfig writer.
add_executable(strait-apiserver main.c kubeconfig.c)
target_link_libraries(strait-apiserver PRIVATE apiserver_api st_httpd st_json st_tls st_ev st_core)
