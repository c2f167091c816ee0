/*
 * Linkerd's metric families with their label sets, so that dashboards and
 * queries written for Linkerd work on strait (docs/metrics.md lists them).
 * Label order follows the enums of strait/metrics.h: one values array can be
 * handed to the request, response and latency families alike.
 */
#include "metrics_int.h"

const char *const st_metrics_http_label_names[ST_METRICS_RESPONSE_N_LABELS] = {
    [ST_METRICS_HTTP_DIRECTION] = "direction",
    [ST_METRICS_HTTP_AUTHORITY] = "authority",
    [ST_METRICS_HTTP_TARGET_ADDR] = "target_addr",
    [ST_METRICS_HTTP_DST_NAMESPACE] = "dst_namespace",
    [ST_METRICS_HTTP_DST_SERVICE] = "dst_service",
    [ST_METRICS_HTTP_DST_DEPLOYMENT] = "dst_deployment",
    [ST_METRICS_HTTP_TLS] = "tls",
    [ST_METRICS_HTTP_NO_TLS_REASON] = "no_tls_reason",
    [ST_METRICS_HTTP_CLIENT_ID] = "client_id",
    [ST_METRICS_HTTP_SERVER_ID] = "server_id",
    [ST_METRICS_HTTP_STATUS_CODE] = "status_code",
    [ST_METRICS_HTTP_CLASSIFICATION] = "classification",
    [ST_METRICS_HTTP_GRPC_STATUS_CODE] = "grpc_status_code",
};

const char *const st_metrics_tcp_label_names[ST_METRICS_TCP_CLOSE_N_LABELS] = {
    [ST_METRICS_TCP_DIRECTION] = "direction",
    [ST_METRICS_TCP_PEER] = "peer",
    [ST_METRICS_TCP_AUTHORITY] = "authority",
    [ST_METRICS_TCP_TARGET_ADDR] = "target_addr",
    [ST_METRICS_TCP_DST_NAMESPACE] = "dst_namespace",
    [ST_METRICS_TCP_DST_SERVICE] = "dst_service",
    [ST_METRICS_TCP_TLS] = "tls",
    [ST_METRICS_TCP_NO_TLS_REASON] = "no_tls_reason",
    [ST_METRICS_TCP_CLIENT_ID] = "client_id",
    [ST_METRICS_TCP_SERVER_ID] = "server_id",
    [ST_METRICS_TCP_CLASSIFICATION] = "classification",
    [ST_METRICS_TCP_ERRNO] = "errno",
};

struct linkerd_family {
    enum st_metrics_type type;
    const char *name;
    const char *help;
    const char *const *labels;
    size_t n_labels;
    size_t offset; /* of the family pointer in the output struct */
};

static int
linkerd_add(struct st_metrics_registry *r, const struct linkerd_family *list, size_t n, void *out,
            struct st_err *err)
{
    for (size_t i = 0; i < n; i++) {
        struct st_metrics_desc d = {
            .type = list[i].type,
            .name = list[i].name,
            .help = list[i].help,
            .labels = list[i].labels,
            .n_labels = list[i].n_labels,
            .bounds = st_metrics_latency_bounds_ms,
            .n_bounds = list[i].type == ST_METRICS_HISTOGRAM ? ST_METRICS_LATENCY_N_BOUNDS : 0,
        };
        struct st_metrics_family **slot =
            (struct st_metrics_family **)((char *)out + list[i].offset);
        int rc = st_metrics_family_add(r, &d, slot, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

#define PROXY_FAM(type, name, help, labels, n)                                                     \
    {                                                                                              \
        ST_METRICS_##type, #name, help, labels, n, offsetof(struct st_metrics_proxy, name)         \
    }

int
st_metrics_proxy_add(struct st_metrics_registry *r, struct st_metrics_proxy *out,
                     struct st_err *err)
{
    static const struct linkerd_family list[] = {
        PROXY_FAM(COUNTER, request_total, "Total count of HTTP requests.",
                  st_metrics_http_label_names, ST_METRICS_HTTP_N_LABELS),
        PROXY_FAM(COUNTER, response_total, "Total count of HTTP responses.",
                  st_metrics_http_label_names, ST_METRICS_RESPONSE_N_LABELS),
        PROXY_FAM(HISTOGRAM, response_latency_ms,
                  "Elapsed times between a request's headers being received and its response "
                  "stream completing",
                  st_metrics_http_label_names, ST_METRICS_HTTP_STATUS_CODE + 1),
        PROXY_FAM(COUNTER, tcp_open_total, "Total count of opened connections",
                  st_metrics_tcp_label_names, ST_METRICS_TCP_N_LABELS),
        PROXY_FAM(COUNTER, tcp_close_total, "Total count of closed connections",
                  st_metrics_tcp_label_names, ST_METRICS_TCP_CLOSE_N_LABELS),
        PROXY_FAM(GAUGE, tcp_open_connections, "Number of currently-open connections",
                  st_metrics_tcp_label_names, ST_METRICS_TCP_N_LABELS),
        PROXY_FAM(COUNTER, tcp_read_bytes_total, "Total count of bytes read from peers",
                  st_metrics_tcp_label_names, ST_METRICS_TCP_N_LABELS),
        PROXY_FAM(COUNTER, tcp_write_bytes_total, "Total count of bytes written to peers",
                  st_metrics_tcp_label_names, ST_METRICS_TCP_N_LABELS),
        PROXY_FAM(HISTOGRAM, tcp_connection_duration_ms, "Connection lifetimes",
                  st_metrics_tcp_label_names, ST_METRICS_TCP_CLOSE_N_LABELS),
    };

    struct st_metrics_proxy fams = {0};
    int rc = linkerd_add(r, list, ST_ARRAY_LEN(list), &fams, err);

    if (rc == 0)
        *out = fams; /* <out> stays as it was on failure */
    return rc;
}

static const char *const cluster_labels[] = {"target_cluster_name", "probe_successful"};
static const char *const event_labels[] = {"target_cluster_name", "event_type"};

#define CTRL_FAM(type, field, name, help, labels, n)                                               \
    {                                                                                              \
        ST_METRICS_##type, name, help, labels, n, offsetof(struct st_metrics_controller, field)    \
    }

int
st_metrics_controller_add(struct st_metrics_registry *r, struct st_metrics_controller *out,
                          struct st_err *err)
{
    static const struct linkerd_family list[] = {
        CTRL_FAM(GAUGE, gateway_alive, "gateway_alive",
                 "A gauge which is 1 if the gateway is alive and 0 if it is not.", cluster_labels,
                 1),
        CTRL_FAM(HISTOGRAM, gateway_probe_latency_ms, "gateway_probe_latency_ms",
                 "A histogram of latencies to a gateway in a target cluster.", cluster_labels, 1),
        CTRL_FAM(COUNTER, gateway_probes, "gateway_probes",
                 "A counter for the number of actual performed probes to a gateway", cluster_labels,
                 2),
        CTRL_FAM(COUNTER, endpoint_repairs, "service_mirror_endpoint_repairs",
                 "Increments when the service mirror controller attempts to repair mirror "
                 "endpoints",
                 cluster_labels, 1),
        CTRL_FAM(COUNTER, event_enqueues, "service_mirror_event_enqueues",
                 "A counter for the number of events enqueued to the service mirror", event_labels,
                 2),
        CTRL_FAM(COUNTER, event_dequeues, "service_mirror_event_dequeues",
                 "A counter for the number of events dequeued by the service mirror", event_labels,
                 2),
        CTRL_FAM(GAUGE, queue_depth, "service_mirror_queue_depth",
                 "The number of events waiting in the service mirror's queue", cluster_labels, 1),
    };

    struct st_metrics_controller fams = {0};
    int rc = linkerd_add(r, list, ST_ARRAY_LEN(list), &fams, err);

    if (rc == 0)
        *out = fams; /* <out> stays as it was on failure */
    return rc;
}
