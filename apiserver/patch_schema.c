/*
 * Strategic merge metadata for the built-in kinds strait-apiserver serves.
 *
 * The facts come from the patchStrategy/patchMergeKey struct tags of the
 * k8s.io/api types. They must match what kubectl believes, because kubectl
 * computes the patch from its own copy of them: a list that Kubernetes treats
 * as atomic is sent whole, so merging it here would keep entries the user
 * removed. That is why, for example, ServiceAccount.imagePullSecrets and
 * Namespace spec.finalizers are replaced, not merged.
 *
 * Tables are written leaves first so that each one can point at the tables of
 * the values below it. Adding a kind is one line in patch_schema_kinds.
 */

#include "patch.h"

#define END                                                                                        \
    {                                                                                              \
        NULL, 0, NULL, NULL                                                                        \
    }

/* ObjectMeta, found under "metadata" of every kind and of pod templates. */
static const struct patch_field schema_object_meta[] = {
    {"finalizers", PATCH_F_MERGE, NULL, NULL},
    {"ownerReferences", PATCH_F_MERGE, "uid", NULL},
    END,
};

/* Any status whose conditions merge by type. */
static const struct patch_field schema_conditions_status[] = {
    {"conditions", PATCH_F_MERGE, "type", NULL},
    END,
};

static const struct patch_field schema_container[] = {
    {"ports", PATCH_F_MERGE, "containerPort", NULL},
    {"env", PATCH_F_MERGE, "name", NULL},
    {"volumeMounts", PATCH_F_MERGE, "mountPath", NULL},
    {"volumeDevices", PATCH_F_MERGE, "devicePath", NULL},
    END,
};

static const struct patch_field schema_pod_spec[] = {
    {"volumes", PATCH_F_MERGE | PATCH_F_RETAIN_KEYS, "name", NULL},
    {"initContainers", PATCH_F_MERGE, "name", schema_container},
    {"containers", PATCH_F_MERGE, "name", schema_container},
    {"ephemeralContainers", PATCH_F_MERGE, "name", schema_container},
    {"imagePullSecrets", PATCH_F_MERGE, "name", NULL},
    {"hostAliases", PATCH_F_MERGE, "ip", NULL},
    {"topologySpreadConstraints", PATCH_F_MERGE, "topologyKey", NULL},
    {"resourceClaims", PATCH_F_MERGE | PATCH_F_RETAIN_KEYS, "name", NULL},
    {"schedulingGates", PATCH_F_MERGE, "name", NULL},
    END,
};

static const struct patch_field schema_pod_status[] = {
    {"conditions", PATCH_F_MERGE, "type", NULL},
    {"podIPs", PATCH_F_MERGE, "ip", NULL},
    {"hostIPs", PATCH_F_MERGE, "ip", NULL},
    END,
};

static const struct patch_field schema_pod_template[] = {
    {"metadata", 0, NULL, schema_object_meta},
    {"spec", 0, NULL, schema_pod_spec},
    END,
};

static const struct patch_field schema_pod[] = {
    {"spec", 0, NULL, schema_pod_spec},
    {"status", 0, NULL, schema_pod_status},
    END,
};

/* The PodTemplate kind keeps its template at the top level. */
static const struct patch_field schema_pod_template_kind[] = {
    {"template", 0, NULL, schema_pod_template},
    END,
};

static const struct patch_field schema_service_spec[] = {
    {"ports", PATCH_F_MERGE, "port", NULL},
    END,
};

static const struct patch_field schema_service[] = {
    {"spec", 0, NULL, schema_service_spec},
    {"status", 0, NULL, schema_conditions_status},
    END,
};

static const struct patch_field schema_service_account[] = {
    {"secrets", PATCH_F_MERGE, "name", NULL},
    END,
};

static const struct patch_field schema_namespace[] = {
    {"status", 0, NULL, schema_conditions_status},
    END,
};

static const struct patch_field schema_node_spec[] = {
    {"podCIDRs", PATCH_F_MERGE, NULL, NULL},
    END,
};

static const struct patch_field schema_node_status[] = {
    {"conditions", PATCH_F_MERGE, "type", NULL},
    {"addresses", PATCH_F_MERGE, "type", NULL},
    END,
};

static const struct patch_field schema_node[] = {
    {"spec", 0, NULL, schema_node_spec},
    {"status", 0, NULL, schema_node_status},
    END,
};

static const struct patch_field schema_deployment_spec[] = {
    {"template", 0, NULL, schema_pod_template},
    {"strategy", PATCH_F_RETAIN_KEYS, NULL, NULL},
    END,
};

static const struct patch_field schema_deployment[] = {
    {"spec", 0, NULL, schema_deployment_spec},
    {"status", 0, NULL, schema_conditions_status},
    END,
};

/* ReplicaSet, DaemonSet, StatefulSet and Job: a pod template and conditions. */
static const struct patch_field schema_templated_spec[] = {
    {"template", 0, NULL, schema_pod_template},
    END,
};

static const struct patch_field schema_templated[] = {
    {"spec", 0, NULL, schema_templated_spec},
    {"status", 0, NULL, schema_conditions_status},
    END,
};

static const struct patch_field schema_job_template[] = {
    {"metadata", 0, NULL, schema_object_meta},
    {"spec", 0, NULL, schema_templated_spec},
    END,
};

static const struct patch_field schema_cron_job_spec[] = {
    {"jobTemplate", 0, NULL, schema_job_template},
    END,
};

static const struct patch_field schema_cron_job[] = {
    {"spec", 0, NULL, schema_cron_job_spec},
    END,
};

/*
 * Every kind with strategic merge support. A NULL field table means only
 * the shared metadata rules apply (every other list is replaced): that is
 * the case of Secret, ConfigMap, Endpoints (subsets replace), Lease, the
 * RBAC kinds (rules and subjects replace) and EndpointSlice.
 */
const struct patch_kind patch_schema_kinds[] = {
    {"v1", "Pod", schema_pod},
    {"v1", "PodTemplate", schema_pod_template_kind},
    {"v1", "Service", schema_service},
    {"v1", "Endpoints", NULL},
    {"v1", "ServiceAccount", schema_service_account},
    {"v1", "Secret", NULL},
    {"v1", "ConfigMap", NULL},
    {"v1", "Namespace", schema_namespace},
    {"v1", "Node", schema_node},
    {"v1", "Event", NULL},
    {"v1", "ReplicationController", schema_templated},
    {"apps/v1", "Deployment", schema_deployment},
    {"apps/v1", "ReplicaSet", schema_templated},
    {"apps/v1", "DaemonSet", schema_templated},
    {"apps/v1", "StatefulSet", schema_templated},
    {"batch/v1", "Job", schema_templated},
    {"batch/v1", "CronJob", schema_cron_job},
    {"coordination.k8s.io/v1", "Lease", NULL},
    {"discovery.k8s.io/v1", "EndpointSlice", NULL},
    {"events.k8s.io/v1", "Event", NULL},
    {"rbac.authorization.k8s.io/v1", "Role", NULL},
    {"rbac.authorization.k8s.io/v1", "ClusterRole", NULL},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", NULL},
    {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", NULL},
    {NULL, NULL, NULL},
};

static const struct patch_field schema_metadata_field = {"metadata", 0, NULL, schema_object_meta};

const struct patch_kind *
patch_schema_find(const char *api_version, const char *kind)
{
    if (!api_version || !kind)
        return NULL;
    for (const struct patch_kind *k = patch_schema_kinds; k->kind; k++) {
        if (strcmp(k->api_version, api_version) == 0 && strcmp(k->kind, kind) == 0)
            return k;
    }
    return NULL;
}

const struct patch_field *
patch_schema_field(const struct patch_field *fields, bool root, const char *name, size_t len)
{
    if (root && len == 8 && memcmp(name, "metadata", 8) == 0)
        return &schema_metadata_field;
    for (const struct patch_field *f = fields; f && f->name; f++) {
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0)
            return f;
    }
    return NULL;
}

bool
patch_kind_has_strategic(const char *api_version, const char *kind)
{
    return patch_schema_find(api_version, kind) != NULL;
}
