/*
 * Field tables for the Kubernetes protobuf messages strait-apiserver decodes.
 *
 * The field numbers, names and types are the ones kubectl v1.32.4 itself
 * carries (the FileDescriptorProtos its k8s.io/api and k8s.io/apimachinery
 * packages register); apiserver/testdata/proto/gen_schema.py wrote this file
 * from them. What the descriptors do not say is kept in that script by hand:
 * PROTO_F_KEEP (Go pointer fields and fields without omitempty), PROTO_F_INLINE
 * (embedded structs) and JSON names that differ. Regenerate rather than edit.
 */
#include "proto.h"

/* One field per line reads better than the rows clang-format would pack. */
/* clang-format off */
static const struct proto_message core_v1_Namespace;
static const struct proto_message meta_v1_ObjectMeta;
static const struct proto_message meta_v1_ObjectMeta_LabelsEntry;
static const struct proto_message meta_v1_ObjectMeta_AnnotationsEntry;
static const struct proto_message meta_v1_OwnerReference;
static const struct proto_message meta_v1_ManagedFieldsEntry;
static const struct proto_message core_v1_NamespaceSpec;
static const struct proto_message core_v1_NamespaceStatus;
static const struct proto_message core_v1_NamespaceCondition;
static const struct proto_message core_v1_Service;
static const struct proto_message core_v1_ServiceSpec;
static const struct proto_message core_v1_ServicePort;
static const struct proto_message core_v1_ServiceSpec_SelectorEntry;
static const struct proto_message core_v1_SessionAffinityConfig;
static const struct proto_message core_v1_ClientIPConfig;
static const struct proto_message core_v1_ServiceStatus;
static const struct proto_message core_v1_LoadBalancerStatus;
static const struct proto_message core_v1_LoadBalancerIngress;
static const struct proto_message core_v1_PortStatus;
static const struct proto_message meta_v1_Condition;
static const struct proto_message core_v1_Secret;
static const struct proto_message core_v1_Secret_DataEntry;
static const struct proto_message core_v1_Secret_StringDataEntry;
static const struct proto_message core_v1_ConfigMap;
static const struct proto_message core_v1_ConfigMap_DataEntry;
static const struct proto_message core_v1_ConfigMap_BinaryDataEntry;
static const struct proto_message core_v1_ServiceAccount;
static const struct proto_message core_v1_ObjectReference;
static const struct proto_message core_v1_LocalObjectReference;
static const struct proto_message core_v1_Endpoints;
static const struct proto_message core_v1_EndpointSubset;
static const struct proto_message core_v1_EndpointAddress;
static const struct proto_message core_v1_EndpointPort;
static const struct proto_message core_v1_Event;
static const struct proto_message core_v1_EventSource;
static const struct proto_message core_v1_EventSeries;
static const struct proto_message apps_v1_Deployment;
static const struct proto_message apps_v1_DeploymentSpec;
static const struct proto_message meta_v1_LabelSelector;
static const struct proto_message meta_v1_LabelSelector_MatchLabelsEntry;
static const struct proto_message meta_v1_LabelSelectorRequirement;
static const struct proto_message core_v1_PodTemplateSpec;
static const struct proto_message core_v1_PodSpec;
static const struct proto_message core_v1_Volume;
static const struct proto_message core_v1_VolumeSource;
static const struct proto_message core_v1_HostPathVolumeSource;
static const struct proto_message core_v1_EmptyDirVolumeSource;
static const struct proto_message core_v1_GCEPersistentDiskVolumeSource;
static const struct proto_message core_v1_AWSElasticBlockStoreVolumeSource;
static const struct proto_message core_v1_GitRepoVolumeSource;
static const struct proto_message core_v1_SecretVolumeSource;
static const struct proto_message core_v1_KeyToPath;
static const struct proto_message core_v1_NFSVolumeSource;
static const struct proto_message core_v1_ISCSIVolumeSource;
static const struct proto_message core_v1_GlusterfsVolumeSource;
static const struct proto_message core_v1_PersistentVolumeClaimVolumeSource;
static const struct proto_message core_v1_RBDVolumeSource;
static const struct proto_message core_v1_FlexVolumeSource;
static const struct proto_message core_v1_FlexVolumeSource_OptionsEntry;
static const struct proto_message core_v1_CinderVolumeSource;
static const struct proto_message core_v1_CephFSVolumeSource;
static const struct proto_message core_v1_FlockerVolumeSource;
static const struct proto_message core_v1_DownwardAPIVolumeSource;
static const struct proto_message core_v1_DownwardAPIVolumeFile;
static const struct proto_message core_v1_ObjectFieldSelector;
static const struct proto_message core_v1_ResourceFieldSelector;
static const struct proto_message core_v1_FCVolumeSource;
static const struct proto_message core_v1_AzureFileVolumeSource;
static const struct proto_message core_v1_ConfigMapVolumeSource;
static const struct proto_message core_v1_VsphereVirtualDiskVolumeSource;
static const struct proto_message core_v1_QuobyteVolumeSource;
static const struct proto_message core_v1_AzureDiskVolumeSource;
static const struct proto_message core_v1_PhotonPersistentDiskVolumeSource;
static const struct proto_message core_v1_ProjectedVolumeSource;
static const struct proto_message core_v1_VolumeProjection;
static const struct proto_message core_v1_SecretProjection;
static const struct proto_message core_v1_DownwardAPIProjection;
static const struct proto_message core_v1_ConfigMapProjection;
static const struct proto_message core_v1_ServiceAccountTokenProjection;
static const struct proto_message core_v1_ClusterTrustBundleProjection;
static const struct proto_message core_v1_PortworxVolumeSource;
static const struct proto_message core_v1_ScaleIOVolumeSource;
static const struct proto_message core_v1_StorageOSVolumeSource;
static const struct proto_message core_v1_CSIVolumeSource;
static const struct proto_message core_v1_CSIVolumeSource_VolumeAttributesEntry;
static const struct proto_message core_v1_EphemeralVolumeSource;
static const struct proto_message core_v1_PersistentVolumeClaimTemplate;
static const struct proto_message core_v1_PersistentVolumeClaimSpec;
static const struct proto_message core_v1_VolumeResourceRequirements;
static const struct proto_message core_v1_VolumeResourceRequirements_LimitsEntry;
static const struct proto_message core_v1_VolumeResourceRequirements_RequestsEntry;
static const struct proto_message core_v1_TypedLocalObjectReference;
static const struct proto_message core_v1_TypedObjectReference;
static const struct proto_message core_v1_ImageVolumeSource;
static const struct proto_message core_v1_Container;
static const struct proto_message core_v1_ContainerPort;
static const struct proto_message core_v1_EnvFromSource;
static const struct proto_message core_v1_ConfigMapEnvSource;
static const struct proto_message core_v1_SecretEnvSource;
static const struct proto_message core_v1_EnvVar;
static const struct proto_message core_v1_EnvVarSource;
static const struct proto_message core_v1_ConfigMapKeySelector;
static const struct proto_message core_v1_SecretKeySelector;
static const struct proto_message core_v1_ResourceRequirements;
static const struct proto_message core_v1_ResourceRequirements_LimitsEntry;
static const struct proto_message core_v1_ResourceRequirements_RequestsEntry;
static const struct proto_message core_v1_ResourceClaim;
static const struct proto_message core_v1_ContainerResizePolicy;
static const struct proto_message core_v1_VolumeMount;
static const struct proto_message core_v1_VolumeDevice;
static const struct proto_message core_v1_Probe;
static const struct proto_message core_v1_ProbeHandler;
static const struct proto_message core_v1_ExecAction;
static const struct proto_message core_v1_HTTPGetAction;
static const struct proto_message core_v1_HTTPHeader;
static const struct proto_message core_v1_TCPSocketAction;
static const struct proto_message core_v1_GRPCAction;
static const struct proto_message core_v1_Lifecycle;
static const struct proto_message core_v1_LifecycleHandler;
static const struct proto_message core_v1_SleepAction;
static const struct proto_message core_v1_SecurityContext;
static const struct proto_message core_v1_Capabilities;
static const struct proto_message core_v1_SELinuxOptions;
static const struct proto_message core_v1_WindowsSecurityContextOptions;
static const struct proto_message core_v1_SeccompProfile;
static const struct proto_message core_v1_AppArmorProfile;
static const struct proto_message core_v1_EphemeralContainer;
static const struct proto_message core_v1_EphemeralContainerCommon;
static const struct proto_message core_v1_PodSpec_NodeSelectorEntry;
static const struct proto_message core_v1_PodSecurityContext;
static const struct proto_message core_v1_Sysctl;
static const struct proto_message core_v1_Affinity;
static const struct proto_message core_v1_NodeAffinity;
static const struct proto_message core_v1_NodeSelector;
static const struct proto_message core_v1_NodeSelectorTerm;
static const struct proto_message core_v1_NodeSelectorRequirement;
static const struct proto_message core_v1_PreferredSchedulingTerm;
static const struct proto_message core_v1_PodAffinity;
static const struct proto_message core_v1_PodAffinityTerm;
static const struct proto_message core_v1_WeightedPodAffinityTerm;
static const struct proto_message core_v1_PodAntiAffinity;
static const struct proto_message core_v1_Toleration;
static const struct proto_message core_v1_HostAlias;
static const struct proto_message core_v1_PodDNSConfig;
static const struct proto_message core_v1_PodDNSConfigOption;
static const struct proto_message core_v1_PodReadinessGate;
static const struct proto_message core_v1_PodSpec_OverheadEntry;
static const struct proto_message core_v1_TopologySpreadConstraint;
static const struct proto_message core_v1_PodOS;
static const struct proto_message core_v1_PodSchedulingGate;
static const struct proto_message core_v1_PodResourceClaim;
static const struct proto_message apps_v1_DeploymentStrategy;
static const struct proto_message apps_v1_RollingUpdateDeployment;
static const struct proto_message apps_v1_DeploymentStatus;
static const struct proto_message apps_v1_DeploymentCondition;
static const struct proto_message rbac_v1_Role;
static const struct proto_message rbac_v1_PolicyRule;
static const struct proto_message rbac_v1_ClusterRole;
static const struct proto_message rbac_v1_AggregationRule;
static const struct proto_message rbac_v1_RoleBinding;
static const struct proto_message rbac_v1_Subject;
static const struct proto_message rbac_v1_RoleRef;
static const struct proto_message rbac_v1_ClusterRoleBinding;
static const struct proto_message authorization_v1_SelfSubjectAccessReview;
static const struct proto_message authorization_v1_SelfSubjectAccessReviewSpec;
static const struct proto_message authorization_v1_ResourceAttributes;
static const struct proto_message authorization_v1_FieldSelectorAttributes;
static const struct proto_message meta_v1_FieldSelectorRequirement;
static const struct proto_message authorization_v1_LabelSelectorAttributes;
static const struct proto_message authorization_v1_NonResourceAttributes;
static const struct proto_message authorization_v1_SubjectAccessReviewStatus;
static const struct proto_message authorization_v1_SubjectAccessReview;
static const struct proto_message authorization_v1_SubjectAccessReviewSpec;
static const struct proto_message authorization_v1_SubjectAccessReviewSpec_ExtraEntry;
static const struct proto_message authorization_v1_LocalSubjectAccessReview;
static const struct proto_message authorization_v1_SelfSubjectRulesReview;
static const struct proto_message authorization_v1_SelfSubjectRulesReviewSpec;
static const struct proto_message authorization_v1_SubjectRulesReviewStatus;
static const struct proto_message authorization_v1_ResourceRule;
static const struct proto_message authorization_v1_NonResourceRule;
static const struct proto_message authentication_v1_TokenReview;
static const struct proto_message authentication_v1_TokenReviewSpec;
static const struct proto_message authentication_v1_TokenReviewStatus;
static const struct proto_message authentication_v1_UserInfo;
static const struct proto_message authentication_v1_UserInfo_ExtraEntry;
static const struct proto_message authentication_v1_TokenRequest;
static const struct proto_message authentication_v1_TokenRequestSpec;
static const struct proto_message authentication_v1_BoundObjectReference;
static const struct proto_message authentication_v1_TokenRequestStatus;
static const struct proto_message authentication_v1_SelfSubjectReview;
static const struct proto_message authentication_v1_SelfSubjectReviewStatus;
static const struct proto_message coordination_v1_Lease;
static const struct proto_message coordination_v1_LeaseSpec;
static const struct proto_message meta_v1_DeleteOptions;
static const struct proto_message meta_v1_Preconditions;

static const struct proto_field core_v1_Namespace_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &core_v1_NamespaceSpec},
    {3, PROTO_T_MESSAGE, 0, "status", &core_v1_NamespaceStatus},
};
static const struct proto_message core_v1_Namespace = {
    "k8s.io.api.core.v1.Namespace",
    ST_ARRAY_LEN(core_v1_Namespace_fields),
    core_v1_Namespace_fields,
};

static const struct proto_field meta_v1_ObjectMeta_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_STRING, 0, "generateName", NULL},
    {3, PROTO_T_STRING, 0, "namespace", NULL},
    {4, PROTO_T_STRING, 0, "selfLink", NULL},
    {5, PROTO_T_STRING, 0, "uid", NULL},
    {6, PROTO_T_STRING, 0, "resourceVersion", NULL},
    {7, PROTO_T_INT64, 0, "generation", NULL},
    {8, PROTO_T_TIME, 0, "creationTimestamp", NULL},
    {9, PROTO_T_TIME, 0, "deletionTimestamp", NULL},
    {10, PROTO_T_INT64, PROTO_F_KEEP, "deletionGracePeriodSeconds", NULL},
    {11, PROTO_T_MAP, 0, "labels", &meta_v1_ObjectMeta_LabelsEntry},
    {12, PROTO_T_MAP, 0, "annotations", &meta_v1_ObjectMeta_AnnotationsEntry},
    {13, PROTO_T_MESSAGE, PROTO_F_REPEATED, "ownerReferences", &meta_v1_OwnerReference},
    {14, PROTO_T_STRING, PROTO_F_REPEATED, "finalizers", NULL},
    {17, PROTO_T_MESSAGE, PROTO_F_REPEATED, "managedFields", &meta_v1_ManagedFieldsEntry},
};
static const struct proto_message meta_v1_ObjectMeta = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    ST_ARRAY_LEN(meta_v1_ObjectMeta_fields),
    meta_v1_ObjectMeta_fields,
};

static const struct proto_field meta_v1_ObjectMeta_LabelsEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_STRING, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message meta_v1_ObjectMeta_LabelsEntry = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta.LabelsEntry",
    ST_ARRAY_LEN(meta_v1_ObjectMeta_LabelsEntry_fields),
    meta_v1_ObjectMeta_LabelsEntry_fields,
};

static const struct proto_field meta_v1_ObjectMeta_AnnotationsEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_STRING, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message meta_v1_ObjectMeta_AnnotationsEntry = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta.AnnotationsEntry",
    ST_ARRAY_LEN(meta_v1_ObjectMeta_AnnotationsEntry_fields),
    meta_v1_ObjectMeta_AnnotationsEntry_fields,
};

static const struct proto_field meta_v1_OwnerReference_fields[] = {
    {1, PROTO_T_STRING, 0, "kind", NULL},
    {3, PROTO_T_STRING, 0, "name", NULL},
    {4, PROTO_T_STRING, 0, "uid", NULL},
    {5, PROTO_T_STRING, 0, "apiVersion", NULL},
    {6, PROTO_T_BOOL, PROTO_F_KEEP, "controller", NULL},
    {7, PROTO_T_BOOL, PROTO_F_KEEP, "blockOwnerDeletion", NULL},
};
static const struct proto_message meta_v1_OwnerReference = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference",
    ST_ARRAY_LEN(meta_v1_OwnerReference_fields),
    meta_v1_OwnerReference_fields,
};

static const struct proto_field meta_v1_ManagedFieldsEntry_fields[] = {
    {1, PROTO_T_STRING, 0, "manager", NULL},
    {2, PROTO_T_STRING, 0, "operation", NULL},
    {3, PROTO_T_STRING, 0, "apiVersion", NULL},
    {4, PROTO_T_TIME, 0, "time", NULL},
    {6, PROTO_T_STRING, 0, "fieldsType", NULL},
    {7, PROTO_T_RAWJSON, 0, "fieldsV1", NULL},
    {8, PROTO_T_STRING, 0, "subresource", NULL},
};
static const struct proto_message meta_v1_ManagedFieldsEntry = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
    ST_ARRAY_LEN(meta_v1_ManagedFieldsEntry_fields),
    meta_v1_ManagedFieldsEntry_fields,
};

static const struct proto_field core_v1_NamespaceSpec_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "finalizers", NULL},
};
static const struct proto_message core_v1_NamespaceSpec = {
    "k8s.io.api.core.v1.NamespaceSpec",
    ST_ARRAY_LEN(core_v1_NamespaceSpec_fields),
    core_v1_NamespaceSpec_fields,
};

static const struct proto_field core_v1_NamespaceStatus_fields[] = {
    {1, PROTO_T_STRING, 0, "phase", NULL},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "conditions", &core_v1_NamespaceCondition},
};
static const struct proto_message core_v1_NamespaceStatus = {
    "k8s.io.api.core.v1.NamespaceStatus",
    ST_ARRAY_LEN(core_v1_NamespaceStatus_fields),
    core_v1_NamespaceStatus_fields,
};

static const struct proto_field core_v1_NamespaceCondition_fields[] = {
    {1, PROTO_T_STRING, 0, "type", NULL},
    {2, PROTO_T_STRING, 0, "status", NULL},
    {4, PROTO_T_TIME, 0, "lastTransitionTime", NULL},
    {5, PROTO_T_STRING, 0, "reason", NULL},
    {6, PROTO_T_STRING, 0, "message", NULL},
};
static const struct proto_message core_v1_NamespaceCondition = {
    "k8s.io.api.core.v1.NamespaceCondition",
    ST_ARRAY_LEN(core_v1_NamespaceCondition_fields),
    core_v1_NamespaceCondition_fields,
};

static const struct proto_field core_v1_Service_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &core_v1_ServiceSpec},
    {3, PROTO_T_MESSAGE, 0, "status", &core_v1_ServiceStatus},
};
static const struct proto_message core_v1_Service = {
    "k8s.io.api.core.v1.Service",
    ST_ARRAY_LEN(core_v1_Service_fields),
    core_v1_Service_fields,
};

static const struct proto_field core_v1_ServiceSpec_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED, "ports", &core_v1_ServicePort},
    {2, PROTO_T_MAP, 0, "selector", &core_v1_ServiceSpec_SelectorEntry},
    {3, PROTO_T_STRING, 0, "clusterIP", NULL},
    {4, PROTO_T_STRING, 0, "type", NULL},
    {5, PROTO_T_STRING, PROTO_F_REPEATED, "externalIPs", NULL},
    {7, PROTO_T_STRING, 0, "sessionAffinity", NULL},
    {8, PROTO_T_STRING, 0, "loadBalancerIP", NULL},
    {9, PROTO_T_STRING, PROTO_F_REPEATED, "loadBalancerSourceRanges", NULL},
    {10, PROTO_T_STRING, 0, "externalName", NULL},
    {11, PROTO_T_STRING, 0, "externalTrafficPolicy", NULL},
    {12, PROTO_T_INT32, 0, "healthCheckNodePort", NULL},
    {13, PROTO_T_BOOL, 0, "publishNotReadyAddresses", NULL},
    {14, PROTO_T_MESSAGE, 0, "sessionAffinityConfig", &core_v1_SessionAffinityConfig},
    {17, PROTO_T_STRING, 0, "ipFamilyPolicy", NULL},
    {18, PROTO_T_STRING, PROTO_F_REPEATED, "clusterIPs", NULL},
    {19, PROTO_T_STRING, PROTO_F_REPEATED, "ipFamilies", NULL},
    {20, PROTO_T_BOOL, PROTO_F_KEEP, "allocateLoadBalancerNodePorts", NULL},
    {21, PROTO_T_STRING, 0, "loadBalancerClass", NULL},
    {22, PROTO_T_STRING, 0, "internalTrafficPolicy", NULL},
    {23, PROTO_T_STRING, 0, "trafficDistribution", NULL},
};
static const struct proto_message core_v1_ServiceSpec = {
    "k8s.io.api.core.v1.ServiceSpec",
    ST_ARRAY_LEN(core_v1_ServiceSpec_fields),
    core_v1_ServiceSpec_fields,
};

static const struct proto_field core_v1_ServicePort_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_STRING, 0, "protocol", NULL},
    {3, PROTO_T_INT32, PROTO_F_KEEP, "port", NULL},
    {4, PROTO_T_INTORSTR, 0, "targetPort", NULL},
    {5, PROTO_T_INT32, 0, "nodePort", NULL},
    {6, PROTO_T_STRING, 0, "appProtocol", NULL},
};
static const struct proto_message core_v1_ServicePort = {
    "k8s.io.api.core.v1.ServicePort",
    ST_ARRAY_LEN(core_v1_ServicePort_fields),
    core_v1_ServicePort_fields,
};

static const struct proto_field core_v1_ServiceSpec_SelectorEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_STRING, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_ServiceSpec_SelectorEntry = {
    "k8s.io.api.core.v1.ServiceSpec.SelectorEntry",
    ST_ARRAY_LEN(core_v1_ServiceSpec_SelectorEntry_fields),
    core_v1_ServiceSpec_SelectorEntry_fields,
};

static const struct proto_field core_v1_SessionAffinityConfig_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "clientIP", &core_v1_ClientIPConfig},
};
static const struct proto_message core_v1_SessionAffinityConfig = {
    "k8s.io.api.core.v1.SessionAffinityConfig",
    ST_ARRAY_LEN(core_v1_SessionAffinityConfig_fields),
    core_v1_SessionAffinityConfig_fields,
};

static const struct proto_field core_v1_ClientIPConfig_fields[] = {
    {1, PROTO_T_INT32, PROTO_F_KEEP, "timeoutSeconds", NULL},
};
static const struct proto_message core_v1_ClientIPConfig = {
    "k8s.io.api.core.v1.ClientIPConfig",
    ST_ARRAY_LEN(core_v1_ClientIPConfig_fields),
    core_v1_ClientIPConfig_fields,
};

static const struct proto_field core_v1_ServiceStatus_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "loadBalancer", &core_v1_LoadBalancerStatus},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "conditions", &meta_v1_Condition},
};
static const struct proto_message core_v1_ServiceStatus = {
    "k8s.io.api.core.v1.ServiceStatus",
    ST_ARRAY_LEN(core_v1_ServiceStatus_fields),
    core_v1_ServiceStatus_fields,
};

static const struct proto_field core_v1_LoadBalancerStatus_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED, "ingress", &core_v1_LoadBalancerIngress},
};
static const struct proto_message core_v1_LoadBalancerStatus = {
    "k8s.io.api.core.v1.LoadBalancerStatus",
    ST_ARRAY_LEN(core_v1_LoadBalancerStatus_fields),
    core_v1_LoadBalancerStatus_fields,
};

static const struct proto_field core_v1_LoadBalancerIngress_fields[] = {
    {1, PROTO_T_STRING, 0, "ip", NULL},
    {2, PROTO_T_STRING, 0, "hostname", NULL},
    {3, PROTO_T_STRING, 0, "ipMode", NULL},
    {4, PROTO_T_MESSAGE, PROTO_F_REPEATED, "ports", &core_v1_PortStatus},
};
static const struct proto_message core_v1_LoadBalancerIngress = {
    "k8s.io.api.core.v1.LoadBalancerIngress",
    ST_ARRAY_LEN(core_v1_LoadBalancerIngress_fields),
    core_v1_LoadBalancerIngress_fields,
};

static const struct proto_field core_v1_PortStatus_fields[] = {
    {1, PROTO_T_INT32, PROTO_F_KEEP, "port", NULL},
    {2, PROTO_T_STRING, 0, "protocol", NULL},
    {3, PROTO_T_STRING, 0, "error", NULL},
};
static const struct proto_message core_v1_PortStatus = {
    "k8s.io.api.core.v1.PortStatus",
    ST_ARRAY_LEN(core_v1_PortStatus_fields),
    core_v1_PortStatus_fields,
};

static const struct proto_field meta_v1_Condition_fields[] = {
    {1, PROTO_T_STRING, 0, "type", NULL},
    {2, PROTO_T_STRING, 0, "status", NULL},
    {3, PROTO_T_INT64, 0, "observedGeneration", NULL},
    {4, PROTO_T_TIME, 0, "lastTransitionTime", NULL},
    {5, PROTO_T_STRING, 0, "reason", NULL},
    {6, PROTO_T_STRING, 0, "message", NULL},
};
static const struct proto_message meta_v1_Condition = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Condition",
    ST_ARRAY_LEN(meta_v1_Condition_fields),
    meta_v1_Condition_fields,
};

static const struct proto_field core_v1_Secret_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MAP, 0, "data", &core_v1_Secret_DataEntry},
    {3, PROTO_T_STRING, 0, "type", NULL},
    {4, PROTO_T_MAP, 0, "stringData", &core_v1_Secret_StringDataEntry},
    {5, PROTO_T_BOOL, PROTO_F_KEEP, "immutable", NULL},
};
static const struct proto_message core_v1_Secret = {
    "k8s.io.api.core.v1.Secret",
    ST_ARRAY_LEN(core_v1_Secret_fields),
    core_v1_Secret_fields,
};

static const struct proto_field core_v1_Secret_DataEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_BYTES, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_Secret_DataEntry = {
    "k8s.io.api.core.v1.Secret.DataEntry",
    ST_ARRAY_LEN(core_v1_Secret_DataEntry_fields),
    core_v1_Secret_DataEntry_fields,
};

static const struct proto_field core_v1_Secret_StringDataEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_STRING, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_Secret_StringDataEntry = {
    "k8s.io.api.core.v1.Secret.StringDataEntry",
    ST_ARRAY_LEN(core_v1_Secret_StringDataEntry_fields),
    core_v1_Secret_StringDataEntry_fields,
};

static const struct proto_field core_v1_ConfigMap_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MAP, 0, "data", &core_v1_ConfigMap_DataEntry},
    {3, PROTO_T_MAP, 0, "binaryData", &core_v1_ConfigMap_BinaryDataEntry},
    {4, PROTO_T_BOOL, PROTO_F_KEEP, "immutable", NULL},
};
static const struct proto_message core_v1_ConfigMap = {
    "k8s.io.api.core.v1.ConfigMap",
    ST_ARRAY_LEN(core_v1_ConfigMap_fields),
    core_v1_ConfigMap_fields,
};

static const struct proto_field core_v1_ConfigMap_DataEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_STRING, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_ConfigMap_DataEntry = {
    "k8s.io.api.core.v1.ConfigMap.DataEntry",
    ST_ARRAY_LEN(core_v1_ConfigMap_DataEntry_fields),
    core_v1_ConfigMap_DataEntry_fields,
};

static const struct proto_field core_v1_ConfigMap_BinaryDataEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_BYTES, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_ConfigMap_BinaryDataEntry = {
    "k8s.io.api.core.v1.ConfigMap.BinaryDataEntry",
    ST_ARRAY_LEN(core_v1_ConfigMap_BinaryDataEntry_fields),
    core_v1_ConfigMap_BinaryDataEntry_fields,
};

static const struct proto_field core_v1_ServiceAccount_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "secrets", &core_v1_ObjectReference},
    {3, PROTO_T_MESSAGE, PROTO_F_REPEATED, "imagePullSecrets", &core_v1_LocalObjectReference},
    {4, PROTO_T_BOOL, PROTO_F_KEEP, "automountServiceAccountToken", NULL},
};
static const struct proto_message core_v1_ServiceAccount = {
    "k8s.io.api.core.v1.ServiceAccount",
    ST_ARRAY_LEN(core_v1_ServiceAccount_fields),
    core_v1_ServiceAccount_fields,
};

static const struct proto_field core_v1_ObjectReference_fields[] = {
    {1, PROTO_T_STRING, 0, "kind", NULL},
    {2, PROTO_T_STRING, 0, "namespace", NULL},
    {3, PROTO_T_STRING, 0, "name", NULL},
    {4, PROTO_T_STRING, 0, "uid", NULL},
    {5, PROTO_T_STRING, 0, "apiVersion", NULL},
    {6, PROTO_T_STRING, 0, "resourceVersion", NULL},
    {7, PROTO_T_STRING, 0, "fieldPath", NULL},
};
static const struct proto_message core_v1_ObjectReference = {
    "k8s.io.api.core.v1.ObjectReference",
    ST_ARRAY_LEN(core_v1_ObjectReference_fields),
    core_v1_ObjectReference_fields,
};

static const struct proto_field core_v1_LocalObjectReference_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
};
static const struct proto_message core_v1_LocalObjectReference = {
    "k8s.io.api.core.v1.LocalObjectReference",
    ST_ARRAY_LEN(core_v1_LocalObjectReference_fields),
    core_v1_LocalObjectReference_fields,
};

static const struct proto_field core_v1_Endpoints_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "subsets", &core_v1_EndpointSubset},
};
static const struct proto_message core_v1_Endpoints = {
    "k8s.io.api.core.v1.Endpoints",
    ST_ARRAY_LEN(core_v1_Endpoints_fields),
    core_v1_Endpoints_fields,
};

static const struct proto_field core_v1_EndpointSubset_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED, "addresses", &core_v1_EndpointAddress},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "notReadyAddresses", &core_v1_EndpointAddress},
    {3, PROTO_T_MESSAGE, PROTO_F_REPEATED, "ports", &core_v1_EndpointPort},
};
static const struct proto_message core_v1_EndpointSubset = {
    "k8s.io.api.core.v1.EndpointSubset",
    ST_ARRAY_LEN(core_v1_EndpointSubset_fields),
    core_v1_EndpointSubset_fields,
};

static const struct proto_field core_v1_EndpointAddress_fields[] = {
    {1, PROTO_T_STRING, 0, "ip", NULL},
    {2, PROTO_T_MESSAGE, 0, "targetRef", &core_v1_ObjectReference},
    {3, PROTO_T_STRING, 0, "hostname", NULL},
    {4, PROTO_T_STRING, 0, "nodeName", NULL},
};
static const struct proto_message core_v1_EndpointAddress = {
    "k8s.io.api.core.v1.EndpointAddress",
    ST_ARRAY_LEN(core_v1_EndpointAddress_fields),
    core_v1_EndpointAddress_fields,
};

static const struct proto_field core_v1_EndpointPort_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_INT32, PROTO_F_KEEP, "port", NULL},
    {3, PROTO_T_STRING, 0, "protocol", NULL},
    {4, PROTO_T_STRING, 0, "appProtocol", NULL},
};
static const struct proto_message core_v1_EndpointPort = {
    "k8s.io.api.core.v1.EndpointPort",
    ST_ARRAY_LEN(core_v1_EndpointPort_fields),
    core_v1_EndpointPort_fields,
};

static const struct proto_field core_v1_Event_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "involvedObject", &core_v1_ObjectReference},
    {3, PROTO_T_STRING, 0, "reason", NULL},
    {4, PROTO_T_STRING, 0, "message", NULL},
    {5, PROTO_T_MESSAGE, 0, "source", &core_v1_EventSource},
    {6, PROTO_T_TIME, 0, "firstTimestamp", NULL},
    {7, PROTO_T_TIME, 0, "lastTimestamp", NULL},
    {8, PROTO_T_INT32, 0, "count", NULL},
    {9, PROTO_T_STRING, 0, "type", NULL},
    {10, PROTO_T_MICROTIME, 0, "eventTime", NULL},
    {11, PROTO_T_MESSAGE, 0, "series", &core_v1_EventSeries},
    {12, PROTO_T_STRING, 0, "action", NULL},
    {13, PROTO_T_MESSAGE, 0, "related", &core_v1_ObjectReference},
    {14, PROTO_T_STRING, 0, "reportingComponent", NULL},
    {15, PROTO_T_STRING, 0, "reportingInstance", NULL},
};
static const struct proto_message core_v1_Event = {
    "k8s.io.api.core.v1.Event",
    ST_ARRAY_LEN(core_v1_Event_fields),
    core_v1_Event_fields,
};

static const struct proto_field core_v1_EventSource_fields[] = {
    {1, PROTO_T_STRING, 0, "component", NULL},
    {2, PROTO_T_STRING, 0, "host", NULL},
};
static const struct proto_message core_v1_EventSource = {
    "k8s.io.api.core.v1.EventSource",
    ST_ARRAY_LEN(core_v1_EventSource_fields),
    core_v1_EventSource_fields,
};

static const struct proto_field core_v1_EventSeries_fields[] = {
    {1, PROTO_T_INT32, 0, "count", NULL},
    {2, PROTO_T_MICROTIME, 0, "lastObservedTime", NULL},
};
static const struct proto_message core_v1_EventSeries = {
    "k8s.io.api.core.v1.EventSeries",
    ST_ARRAY_LEN(core_v1_EventSeries_fields),
    core_v1_EventSeries_fields,
};

static const struct proto_field apps_v1_Deployment_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &apps_v1_DeploymentSpec},
    {3, PROTO_T_MESSAGE, 0, "status", &apps_v1_DeploymentStatus},
};
static const struct proto_message apps_v1_Deployment = {
    "k8s.io.api.apps.v1.Deployment",
    ST_ARRAY_LEN(apps_v1_Deployment_fields),
    apps_v1_Deployment_fields,
};

static const struct proto_field apps_v1_DeploymentSpec_fields[] = {
    {1, PROTO_T_INT32, PROTO_F_KEEP, "replicas", NULL},
    {2, PROTO_T_MESSAGE, 0, "selector", &meta_v1_LabelSelector},
    {3, PROTO_T_MESSAGE, 0, "template", &core_v1_PodTemplateSpec},
    {4, PROTO_T_MESSAGE, 0, "strategy", &apps_v1_DeploymentStrategy},
    {5, PROTO_T_INT32, 0, "minReadySeconds", NULL},
    {6, PROTO_T_INT32, PROTO_F_KEEP, "revisionHistoryLimit", NULL},
    {7, PROTO_T_BOOL, 0, "paused", NULL},
    {9, PROTO_T_INT32, PROTO_F_KEEP, "progressDeadlineSeconds", NULL},
};
static const struct proto_message apps_v1_DeploymentSpec = {
    "k8s.io.api.apps.v1.DeploymentSpec",
    ST_ARRAY_LEN(apps_v1_DeploymentSpec_fields),
    apps_v1_DeploymentSpec_fields,
};

static const struct proto_field meta_v1_LabelSelector_fields[] = {
    {1, PROTO_T_MAP, 0, "matchLabels", &meta_v1_LabelSelector_MatchLabelsEntry},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "matchExpressions", &meta_v1_LabelSelectorRequirement},
};
static const struct proto_message meta_v1_LabelSelector = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
    ST_ARRAY_LEN(meta_v1_LabelSelector_fields),
    meta_v1_LabelSelector_fields,
};

static const struct proto_field meta_v1_LabelSelector_MatchLabelsEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_STRING, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message meta_v1_LabelSelector_MatchLabelsEntry = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector.MatchLabelsEntry",
    ST_ARRAY_LEN(meta_v1_LabelSelector_MatchLabelsEntry_fields),
    meta_v1_LabelSelector_MatchLabelsEntry_fields,
};

static const struct proto_field meta_v1_LabelSelectorRequirement_fields[] = {
    {1, PROTO_T_STRING, 0, "key", NULL},
    {2, PROTO_T_STRING, 0, "operator", NULL},
    {3, PROTO_T_STRING, PROTO_F_REPEATED, "values", NULL},
};
static const struct proto_message meta_v1_LabelSelectorRequirement = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
    ST_ARRAY_LEN(meta_v1_LabelSelectorRequirement_fields),
    meta_v1_LabelSelectorRequirement_fields,
};

static const struct proto_field core_v1_PodTemplateSpec_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &core_v1_PodSpec},
};
static const struct proto_message core_v1_PodTemplateSpec = {
    "k8s.io.api.core.v1.PodTemplateSpec",
    ST_ARRAY_LEN(core_v1_PodTemplateSpec_fields),
    core_v1_PodTemplateSpec_fields,
};

static const struct proto_field core_v1_PodSpec_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED, "volumes", &core_v1_Volume},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "containers", &core_v1_Container},
    {3, PROTO_T_STRING, 0, "restartPolicy", NULL},
    {4, PROTO_T_INT64, PROTO_F_KEEP, "terminationGracePeriodSeconds", NULL},
    {5, PROTO_T_INT64, PROTO_F_KEEP, "activeDeadlineSeconds", NULL},
    {6, PROTO_T_STRING, 0, "dnsPolicy", NULL},
    {7, PROTO_T_MAP, 0, "nodeSelector", &core_v1_PodSpec_NodeSelectorEntry},
    {8, PROTO_T_STRING, 0, "serviceAccountName", NULL},
    {9, PROTO_T_STRING, 0, "serviceAccount", NULL},
    {10, PROTO_T_STRING, 0, "nodeName", NULL},
    {11, PROTO_T_BOOL, 0, "hostNetwork", NULL},
    {12, PROTO_T_BOOL, 0, "hostPID", NULL},
    {13, PROTO_T_BOOL, 0, "hostIPC", NULL},
    {14, PROTO_T_MESSAGE, 0, "securityContext", &core_v1_PodSecurityContext},
    {15, PROTO_T_MESSAGE, PROTO_F_REPEATED, "imagePullSecrets", &core_v1_LocalObjectReference},
    {16, PROTO_T_STRING, 0, "hostname", NULL},
    {17, PROTO_T_STRING, 0, "subdomain", NULL},
    {18, PROTO_T_MESSAGE, 0, "affinity", &core_v1_Affinity},
    {19, PROTO_T_STRING, 0, "schedulerName", NULL},
    {20, PROTO_T_MESSAGE, PROTO_F_REPEATED, "initContainers", &core_v1_Container},
    {21, PROTO_T_BOOL, PROTO_F_KEEP, "automountServiceAccountToken", NULL},
    {22, PROTO_T_MESSAGE, PROTO_F_REPEATED, "tolerations", &core_v1_Toleration},
    {23, PROTO_T_MESSAGE, PROTO_F_REPEATED, "hostAliases", &core_v1_HostAlias},
    {24, PROTO_T_STRING, 0, "priorityClassName", NULL},
    {25, PROTO_T_INT32, PROTO_F_KEEP, "priority", NULL},
    {26, PROTO_T_MESSAGE, 0, "dnsConfig", &core_v1_PodDNSConfig},
    {27, PROTO_T_BOOL, PROTO_F_KEEP, "shareProcessNamespace", NULL},
    {28, PROTO_T_MESSAGE, PROTO_F_REPEATED, "readinessGates", &core_v1_PodReadinessGate},
    {29, PROTO_T_STRING, 0, "runtimeClassName", NULL},
    {30, PROTO_T_BOOL, PROTO_F_KEEP, "enableServiceLinks", NULL},
    {31, PROTO_T_STRING, 0, "preemptionPolicy", NULL},
    {32, PROTO_T_MAP, 0, "overhead", &core_v1_PodSpec_OverheadEntry},
    {33, PROTO_T_MESSAGE, PROTO_F_REPEATED,
     "topologySpreadConstraints", &core_v1_TopologySpreadConstraint},
    {34, PROTO_T_MESSAGE, PROTO_F_REPEATED, "ephemeralContainers", &core_v1_EphemeralContainer},
    {35, PROTO_T_BOOL, PROTO_F_KEEP, "setHostnameAsFQDN", NULL},
    {36, PROTO_T_MESSAGE, 0, "os", &core_v1_PodOS},
    {37, PROTO_T_BOOL, PROTO_F_KEEP, "hostUsers", NULL},
    {38, PROTO_T_MESSAGE, PROTO_F_REPEATED, "schedulingGates", &core_v1_PodSchedulingGate},
    {39, PROTO_T_MESSAGE, PROTO_F_REPEATED, "resourceClaims", &core_v1_PodResourceClaim},
    {40, PROTO_T_MESSAGE, 0, "resources", &core_v1_ResourceRequirements},
};
static const struct proto_message core_v1_PodSpec = {
    "k8s.io.api.core.v1.PodSpec",
    ST_ARRAY_LEN(core_v1_PodSpec_fields),
    core_v1_PodSpec_fields,
};

static const struct proto_field core_v1_Volume_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_MESSAGE, PROTO_F_INLINE, "volumeSource", &core_v1_VolumeSource},
};
static const struct proto_message core_v1_Volume = {
    "k8s.io.api.core.v1.Volume",
    ST_ARRAY_LEN(core_v1_Volume_fields),
    core_v1_Volume_fields,
};

static const struct proto_field core_v1_VolumeSource_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "hostPath", &core_v1_HostPathVolumeSource},
    {2, PROTO_T_MESSAGE, 0, "emptyDir", &core_v1_EmptyDirVolumeSource},
    {3, PROTO_T_MESSAGE, 0, "gcePersistentDisk", &core_v1_GCEPersistentDiskVolumeSource},
    {4, PROTO_T_MESSAGE, 0, "awsElasticBlockStore", &core_v1_AWSElasticBlockStoreVolumeSource},
    {5, PROTO_T_MESSAGE, 0, "gitRepo", &core_v1_GitRepoVolumeSource},
    {6, PROTO_T_MESSAGE, 0, "secret", &core_v1_SecretVolumeSource},
    {7, PROTO_T_MESSAGE, 0, "nfs", &core_v1_NFSVolumeSource},
    {8, PROTO_T_MESSAGE, 0, "iscsi", &core_v1_ISCSIVolumeSource},
    {9, PROTO_T_MESSAGE, 0, "glusterfs", &core_v1_GlusterfsVolumeSource},
    {10, PROTO_T_MESSAGE, 0, "persistentVolumeClaim", &core_v1_PersistentVolumeClaimVolumeSource},
    {11, PROTO_T_MESSAGE, 0, "rbd", &core_v1_RBDVolumeSource},
    {12, PROTO_T_MESSAGE, 0, "flexVolume", &core_v1_FlexVolumeSource},
    {13, PROTO_T_MESSAGE, 0, "cinder", &core_v1_CinderVolumeSource},
    {14, PROTO_T_MESSAGE, 0, "cephfs", &core_v1_CephFSVolumeSource},
    {15, PROTO_T_MESSAGE, 0, "flocker", &core_v1_FlockerVolumeSource},
    {16, PROTO_T_MESSAGE, 0, "downwardAPI", &core_v1_DownwardAPIVolumeSource},
    {17, PROTO_T_MESSAGE, 0, "fc", &core_v1_FCVolumeSource},
    {18, PROTO_T_MESSAGE, 0, "azureFile", &core_v1_AzureFileVolumeSource},
    {19, PROTO_T_MESSAGE, 0, "configMap", &core_v1_ConfigMapVolumeSource},
    {20, PROTO_T_MESSAGE, 0, "vsphereVolume", &core_v1_VsphereVirtualDiskVolumeSource},
    {21, PROTO_T_MESSAGE, 0, "quobyte", &core_v1_QuobyteVolumeSource},
    {22, PROTO_T_MESSAGE, 0, "azureDisk", &core_v1_AzureDiskVolumeSource},
    {23, PROTO_T_MESSAGE, 0, "photonPersistentDisk", &core_v1_PhotonPersistentDiskVolumeSource},
    {24, PROTO_T_MESSAGE, 0, "portworxVolume", &core_v1_PortworxVolumeSource},
    {25, PROTO_T_MESSAGE, 0, "scaleIO", &core_v1_ScaleIOVolumeSource},
    {26, PROTO_T_MESSAGE, 0, "projected", &core_v1_ProjectedVolumeSource},
    {27, PROTO_T_MESSAGE, 0, "storageos", &core_v1_StorageOSVolumeSource},
    {28, PROTO_T_MESSAGE, 0, "csi", &core_v1_CSIVolumeSource},
    {29, PROTO_T_MESSAGE, 0, "ephemeral", &core_v1_EphemeralVolumeSource},
    {30, PROTO_T_MESSAGE, 0, "image", &core_v1_ImageVolumeSource},
};
static const struct proto_message core_v1_VolumeSource = {
    "k8s.io.api.core.v1.VolumeSource",
    ST_ARRAY_LEN(core_v1_VolumeSource_fields),
    core_v1_VolumeSource_fields,
};

static const struct proto_field core_v1_HostPathVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "path", NULL},
    {2, PROTO_T_STRING, 0, "type", NULL},
};
static const struct proto_message core_v1_HostPathVolumeSource = {
    "k8s.io.api.core.v1.HostPathVolumeSource",
    ST_ARRAY_LEN(core_v1_HostPathVolumeSource_fields),
    core_v1_HostPathVolumeSource_fields,
};

static const struct proto_field core_v1_EmptyDirVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "medium", NULL},
    {2, PROTO_T_QUANTITY, 0, "sizeLimit", NULL},
};
static const struct proto_message core_v1_EmptyDirVolumeSource = {
    "k8s.io.api.core.v1.EmptyDirVolumeSource",
    ST_ARRAY_LEN(core_v1_EmptyDirVolumeSource_fields),
    core_v1_EmptyDirVolumeSource_fields,
};

static const struct proto_field core_v1_GCEPersistentDiskVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "pdName", NULL},
    {2, PROTO_T_STRING, 0, "fsType", NULL},
    {3, PROTO_T_INT32, 0, "partition", NULL},
    {4, PROTO_T_BOOL, 0, "readOnly", NULL},
};
static const struct proto_message core_v1_GCEPersistentDiskVolumeSource = {
    "k8s.io.api.core.v1.GCEPersistentDiskVolumeSource",
    ST_ARRAY_LEN(core_v1_GCEPersistentDiskVolumeSource_fields),
    core_v1_GCEPersistentDiskVolumeSource_fields,
};

static const struct proto_field core_v1_AWSElasticBlockStoreVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "volumeID", NULL},
    {2, PROTO_T_STRING, 0, "fsType", NULL},
    {3, PROTO_T_INT32, 0, "partition", NULL},
    {4, PROTO_T_BOOL, 0, "readOnly", NULL},
};
static const struct proto_message core_v1_AWSElasticBlockStoreVolumeSource = {
    "k8s.io.api.core.v1.AWSElasticBlockStoreVolumeSource",
    ST_ARRAY_LEN(core_v1_AWSElasticBlockStoreVolumeSource_fields),
    core_v1_AWSElasticBlockStoreVolumeSource_fields,
};

static const struct proto_field core_v1_GitRepoVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "repository", NULL},
    {2, PROTO_T_STRING, 0, "revision", NULL},
    {3, PROTO_T_STRING, 0, "directory", NULL},
};
static const struct proto_message core_v1_GitRepoVolumeSource = {
    "k8s.io.api.core.v1.GitRepoVolumeSource",
    ST_ARRAY_LEN(core_v1_GitRepoVolumeSource_fields),
    core_v1_GitRepoVolumeSource_fields,
};

static const struct proto_field core_v1_SecretVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "secretName", NULL},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "items", &core_v1_KeyToPath},
    {3, PROTO_T_INT32, PROTO_F_KEEP, "defaultMode", NULL},
    {4, PROTO_T_BOOL, PROTO_F_KEEP, "optional", NULL},
};
static const struct proto_message core_v1_SecretVolumeSource = {
    "k8s.io.api.core.v1.SecretVolumeSource",
    ST_ARRAY_LEN(core_v1_SecretVolumeSource_fields),
    core_v1_SecretVolumeSource_fields,
};

static const struct proto_field core_v1_KeyToPath_fields[] = {
    {1, PROTO_T_STRING, 0, "key", NULL},
    {2, PROTO_T_STRING, 0, "path", NULL},
    {3, PROTO_T_INT32, PROTO_F_KEEP, "mode", NULL},
};
static const struct proto_message core_v1_KeyToPath = {
    "k8s.io.api.core.v1.KeyToPath",
    ST_ARRAY_LEN(core_v1_KeyToPath_fields),
    core_v1_KeyToPath_fields,
};

static const struct proto_field core_v1_NFSVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "server", NULL},
    {2, PROTO_T_STRING, 0, "path", NULL},
    {3, PROTO_T_BOOL, 0, "readOnly", NULL},
};
static const struct proto_message core_v1_NFSVolumeSource = {
    "k8s.io.api.core.v1.NFSVolumeSource",
    ST_ARRAY_LEN(core_v1_NFSVolumeSource_fields),
    core_v1_NFSVolumeSource_fields,
};

static const struct proto_field core_v1_ISCSIVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "targetPortal", NULL},
    {2, PROTO_T_STRING, 0, "iqn", NULL},
    {3, PROTO_T_INT32, 0, "lun", NULL},
    {4, PROTO_T_STRING, 0, "iscsiInterface", NULL},
    {5, PROTO_T_STRING, 0, "fsType", NULL},
    {6, PROTO_T_BOOL, 0, "readOnly", NULL},
    {7, PROTO_T_STRING, PROTO_F_REPEATED, "portals", NULL},
    {8, PROTO_T_BOOL, 0, "chapAuthDiscovery", NULL},
    {10, PROTO_T_MESSAGE, 0, "secretRef", &core_v1_LocalObjectReference},
    {11, PROTO_T_BOOL, 0, "chapAuthSession", NULL},
    {12, PROTO_T_STRING, 0, "initiatorName", NULL},
};
static const struct proto_message core_v1_ISCSIVolumeSource = {
    "k8s.io.api.core.v1.ISCSIVolumeSource",
    ST_ARRAY_LEN(core_v1_ISCSIVolumeSource_fields),
    core_v1_ISCSIVolumeSource_fields,
};

static const struct proto_field core_v1_GlusterfsVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "endpoints", NULL},
    {2, PROTO_T_STRING, 0, "path", NULL},
    {3, PROTO_T_BOOL, 0, "readOnly", NULL},
};
static const struct proto_message core_v1_GlusterfsVolumeSource = {
    "k8s.io.api.core.v1.GlusterfsVolumeSource",
    ST_ARRAY_LEN(core_v1_GlusterfsVolumeSource_fields),
    core_v1_GlusterfsVolumeSource_fields,
};

static const struct proto_field core_v1_PersistentVolumeClaimVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "claimName", NULL},
    {2, PROTO_T_BOOL, 0, "readOnly", NULL},
};
static const struct proto_message core_v1_PersistentVolumeClaimVolumeSource = {
    "k8s.io.api.core.v1.PersistentVolumeClaimVolumeSource",
    ST_ARRAY_LEN(core_v1_PersistentVolumeClaimVolumeSource_fields),
    core_v1_PersistentVolumeClaimVolumeSource_fields,
};

static const struct proto_field core_v1_RBDVolumeSource_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "monitors", NULL},
    {2, PROTO_T_STRING, 0, "image", NULL},
    {3, PROTO_T_STRING, 0, "fsType", NULL},
    {4, PROTO_T_STRING, 0, "pool", NULL},
    {5, PROTO_T_STRING, 0, "user", NULL},
    {6, PROTO_T_STRING, 0, "keyring", NULL},
    {7, PROTO_T_MESSAGE, 0, "secretRef", &core_v1_LocalObjectReference},
    {8, PROTO_T_BOOL, 0, "readOnly", NULL},
};
static const struct proto_message core_v1_RBDVolumeSource = {
    "k8s.io.api.core.v1.RBDVolumeSource",
    ST_ARRAY_LEN(core_v1_RBDVolumeSource_fields),
    core_v1_RBDVolumeSource_fields,
};

static const struct proto_field core_v1_FlexVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "driver", NULL},
    {2, PROTO_T_STRING, 0, "fsType", NULL},
    {3, PROTO_T_MESSAGE, 0, "secretRef", &core_v1_LocalObjectReference},
    {4, PROTO_T_BOOL, 0, "readOnly", NULL},
    {5, PROTO_T_MAP, 0, "options", &core_v1_FlexVolumeSource_OptionsEntry},
};
static const struct proto_message core_v1_FlexVolumeSource = {
    "k8s.io.api.core.v1.FlexVolumeSource",
    ST_ARRAY_LEN(core_v1_FlexVolumeSource_fields),
    core_v1_FlexVolumeSource_fields,
};

static const struct proto_field core_v1_FlexVolumeSource_OptionsEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_STRING, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_FlexVolumeSource_OptionsEntry = {
    "k8s.io.api.core.v1.FlexVolumeSource.OptionsEntry",
    ST_ARRAY_LEN(core_v1_FlexVolumeSource_OptionsEntry_fields),
    core_v1_FlexVolumeSource_OptionsEntry_fields,
};

static const struct proto_field core_v1_CinderVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "volumeID", NULL},
    {2, PROTO_T_STRING, 0, "fsType", NULL},
    {3, PROTO_T_BOOL, 0, "readOnly", NULL},
    {4, PROTO_T_MESSAGE, 0, "secretRef", &core_v1_LocalObjectReference},
};
static const struct proto_message core_v1_CinderVolumeSource = {
    "k8s.io.api.core.v1.CinderVolumeSource",
    ST_ARRAY_LEN(core_v1_CinderVolumeSource_fields),
    core_v1_CinderVolumeSource_fields,
};

static const struct proto_field core_v1_CephFSVolumeSource_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "monitors", NULL},
    {2, PROTO_T_STRING, 0, "path", NULL},
    {3, PROTO_T_STRING, 0, "user", NULL},
    {4, PROTO_T_STRING, 0, "secretFile", NULL},
    {5, PROTO_T_MESSAGE, 0, "secretRef", &core_v1_LocalObjectReference},
    {6, PROTO_T_BOOL, 0, "readOnly", NULL},
};
static const struct proto_message core_v1_CephFSVolumeSource = {
    "k8s.io.api.core.v1.CephFSVolumeSource",
    ST_ARRAY_LEN(core_v1_CephFSVolumeSource_fields),
    core_v1_CephFSVolumeSource_fields,
};

static const struct proto_field core_v1_FlockerVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "datasetName", NULL},
    {2, PROTO_T_STRING, 0, "datasetUUID", NULL},
};
static const struct proto_message core_v1_FlockerVolumeSource = {
    "k8s.io.api.core.v1.FlockerVolumeSource",
    ST_ARRAY_LEN(core_v1_FlockerVolumeSource_fields),
    core_v1_FlockerVolumeSource_fields,
};

static const struct proto_field core_v1_DownwardAPIVolumeSource_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED, "items", &core_v1_DownwardAPIVolumeFile},
    {2, PROTO_T_INT32, PROTO_F_KEEP, "defaultMode", NULL},
};
static const struct proto_message core_v1_DownwardAPIVolumeSource = {
    "k8s.io.api.core.v1.DownwardAPIVolumeSource",
    ST_ARRAY_LEN(core_v1_DownwardAPIVolumeSource_fields),
    core_v1_DownwardAPIVolumeSource_fields,
};

static const struct proto_field core_v1_DownwardAPIVolumeFile_fields[] = {
    {1, PROTO_T_STRING, 0, "path", NULL},
    {2, PROTO_T_MESSAGE, 0, "fieldRef", &core_v1_ObjectFieldSelector},
    {3, PROTO_T_MESSAGE, 0, "resourceFieldRef", &core_v1_ResourceFieldSelector},
    {4, PROTO_T_INT32, PROTO_F_KEEP, "mode", NULL},
};
static const struct proto_message core_v1_DownwardAPIVolumeFile = {
    "k8s.io.api.core.v1.DownwardAPIVolumeFile",
    ST_ARRAY_LEN(core_v1_DownwardAPIVolumeFile_fields),
    core_v1_DownwardAPIVolumeFile_fields,
};

static const struct proto_field core_v1_ObjectFieldSelector_fields[] = {
    {1, PROTO_T_STRING, 0, "apiVersion", NULL},
    {2, PROTO_T_STRING, 0, "fieldPath", NULL},
};
static const struct proto_message core_v1_ObjectFieldSelector = {
    "k8s.io.api.core.v1.ObjectFieldSelector",
    ST_ARRAY_LEN(core_v1_ObjectFieldSelector_fields),
    core_v1_ObjectFieldSelector_fields,
};

static const struct proto_field core_v1_ResourceFieldSelector_fields[] = {
    {1, PROTO_T_STRING, 0, "containerName", NULL},
    {2, PROTO_T_STRING, 0, "resource", NULL},
    {3, PROTO_T_QUANTITY, 0, "divisor", NULL},
};
static const struct proto_message core_v1_ResourceFieldSelector = {
    "k8s.io.api.core.v1.ResourceFieldSelector",
    ST_ARRAY_LEN(core_v1_ResourceFieldSelector_fields),
    core_v1_ResourceFieldSelector_fields,
};

static const struct proto_field core_v1_FCVolumeSource_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "targetWWNs", NULL},
    {2, PROTO_T_INT32, PROTO_F_KEEP, "lun", NULL},
    {3, PROTO_T_STRING, 0, "fsType", NULL},
    {4, PROTO_T_BOOL, 0, "readOnly", NULL},
    {5, PROTO_T_STRING, PROTO_F_REPEATED, "wwids", NULL},
};
static const struct proto_message core_v1_FCVolumeSource = {
    "k8s.io.api.core.v1.FCVolumeSource",
    ST_ARRAY_LEN(core_v1_FCVolumeSource_fields),
    core_v1_FCVolumeSource_fields,
};

static const struct proto_field core_v1_AzureFileVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "secretName", NULL},
    {2, PROTO_T_STRING, 0, "shareName", NULL},
    {3, PROTO_T_BOOL, 0, "readOnly", NULL},
};
static const struct proto_message core_v1_AzureFileVolumeSource = {
    "k8s.io.api.core.v1.AzureFileVolumeSource",
    ST_ARRAY_LEN(core_v1_AzureFileVolumeSource_fields),
    core_v1_AzureFileVolumeSource_fields,
};

static const struct proto_field core_v1_ConfigMapVolumeSource_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_INLINE, "localObjectReference", &core_v1_LocalObjectReference},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "items", &core_v1_KeyToPath},
    {3, PROTO_T_INT32, PROTO_F_KEEP, "defaultMode", NULL},
    {4, PROTO_T_BOOL, PROTO_F_KEEP, "optional", NULL},
};
static const struct proto_message core_v1_ConfigMapVolumeSource = {
    "k8s.io.api.core.v1.ConfigMapVolumeSource",
    ST_ARRAY_LEN(core_v1_ConfigMapVolumeSource_fields),
    core_v1_ConfigMapVolumeSource_fields,
};

static const struct proto_field core_v1_VsphereVirtualDiskVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "volumePath", NULL},
    {2, PROTO_T_STRING, 0, "fsType", NULL},
    {3, PROTO_T_STRING, 0, "storagePolicyName", NULL},
    {4, PROTO_T_STRING, 0, "storagePolicyID", NULL},
};
static const struct proto_message core_v1_VsphereVirtualDiskVolumeSource = {
    "k8s.io.api.core.v1.VsphereVirtualDiskVolumeSource",
    ST_ARRAY_LEN(core_v1_VsphereVirtualDiskVolumeSource_fields),
    core_v1_VsphereVirtualDiskVolumeSource_fields,
};

static const struct proto_field core_v1_QuobyteVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "registry", NULL},
    {2, PROTO_T_STRING, 0, "volume", NULL},
    {3, PROTO_T_BOOL, 0, "readOnly", NULL},
    {4, PROTO_T_STRING, 0, "user", NULL},
    {5, PROTO_T_STRING, 0, "group", NULL},
    {6, PROTO_T_STRING, 0, "tenant", NULL},
};
static const struct proto_message core_v1_QuobyteVolumeSource = {
    "k8s.io.api.core.v1.QuobyteVolumeSource",
    ST_ARRAY_LEN(core_v1_QuobyteVolumeSource_fields),
    core_v1_QuobyteVolumeSource_fields,
};

static const struct proto_field core_v1_AzureDiskVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "diskName", NULL},
    {2, PROTO_T_STRING, 0, "diskURI", NULL},
    {3, PROTO_T_STRING, 0, "cachingMode", NULL},
    {4, PROTO_T_STRING, 0, "fsType", NULL},
    {5, PROTO_T_BOOL, PROTO_F_KEEP, "readOnly", NULL},
    {6, PROTO_T_STRING, 0, "kind", NULL},
};
static const struct proto_message core_v1_AzureDiskVolumeSource = {
    "k8s.io.api.core.v1.AzureDiskVolumeSource",
    ST_ARRAY_LEN(core_v1_AzureDiskVolumeSource_fields),
    core_v1_AzureDiskVolumeSource_fields,
};

static const struct proto_field core_v1_PhotonPersistentDiskVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "pdID", NULL},
    {2, PROTO_T_STRING, 0, "fsType", NULL},
};
static const struct proto_message core_v1_PhotonPersistentDiskVolumeSource = {
    "k8s.io.api.core.v1.PhotonPersistentDiskVolumeSource",
    ST_ARRAY_LEN(core_v1_PhotonPersistentDiskVolumeSource_fields),
    core_v1_PhotonPersistentDiskVolumeSource_fields,
};

static const struct proto_field core_v1_ProjectedVolumeSource_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED, "sources", &core_v1_VolumeProjection},
    {2, PROTO_T_INT32, PROTO_F_KEEP, "defaultMode", NULL},
};
static const struct proto_message core_v1_ProjectedVolumeSource = {
    "k8s.io.api.core.v1.ProjectedVolumeSource",
    ST_ARRAY_LEN(core_v1_ProjectedVolumeSource_fields),
    core_v1_ProjectedVolumeSource_fields,
};

static const struct proto_field core_v1_VolumeProjection_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "secret", &core_v1_SecretProjection},
    {2, PROTO_T_MESSAGE, 0, "downwardAPI", &core_v1_DownwardAPIProjection},
    {3, PROTO_T_MESSAGE, 0, "configMap", &core_v1_ConfigMapProjection},
    {4, PROTO_T_MESSAGE, 0, "serviceAccountToken", &core_v1_ServiceAccountTokenProjection},
    {5, PROTO_T_MESSAGE, 0, "clusterTrustBundle", &core_v1_ClusterTrustBundleProjection},
};
static const struct proto_message core_v1_VolumeProjection = {
    "k8s.io.api.core.v1.VolumeProjection",
    ST_ARRAY_LEN(core_v1_VolumeProjection_fields),
    core_v1_VolumeProjection_fields,
};

static const struct proto_field core_v1_SecretProjection_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_INLINE, "localObjectReference", &core_v1_LocalObjectReference},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "items", &core_v1_KeyToPath},
    {4, PROTO_T_BOOL, PROTO_F_KEEP, "optional", NULL},
};
static const struct proto_message core_v1_SecretProjection = {
    "k8s.io.api.core.v1.SecretProjection",
    ST_ARRAY_LEN(core_v1_SecretProjection_fields),
    core_v1_SecretProjection_fields,
};

static const struct proto_field core_v1_DownwardAPIProjection_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED, "items", &core_v1_DownwardAPIVolumeFile},
};
static const struct proto_message core_v1_DownwardAPIProjection = {
    "k8s.io.api.core.v1.DownwardAPIProjection",
    ST_ARRAY_LEN(core_v1_DownwardAPIProjection_fields),
    core_v1_DownwardAPIProjection_fields,
};

static const struct proto_field core_v1_ConfigMapProjection_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_INLINE, "localObjectReference", &core_v1_LocalObjectReference},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "items", &core_v1_KeyToPath},
    {4, PROTO_T_BOOL, PROTO_F_KEEP, "optional", NULL},
};
static const struct proto_message core_v1_ConfigMapProjection = {
    "k8s.io.api.core.v1.ConfigMapProjection",
    ST_ARRAY_LEN(core_v1_ConfigMapProjection_fields),
    core_v1_ConfigMapProjection_fields,
};

static const struct proto_field core_v1_ServiceAccountTokenProjection_fields[] = {
    {1, PROTO_T_STRING, 0, "audience", NULL},
    {2, PROTO_T_INT64, PROTO_F_KEEP, "expirationSeconds", NULL},
    {3, PROTO_T_STRING, 0, "path", NULL},
};
static const struct proto_message core_v1_ServiceAccountTokenProjection = {
    "k8s.io.api.core.v1.ServiceAccountTokenProjection",
    ST_ARRAY_LEN(core_v1_ServiceAccountTokenProjection_fields),
    core_v1_ServiceAccountTokenProjection_fields,
};

static const struct proto_field core_v1_ClusterTrustBundleProjection_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_STRING, 0, "signerName", NULL},
    {3, PROTO_T_MESSAGE, 0, "labelSelector", &meta_v1_LabelSelector},
    {4, PROTO_T_STRING, 0, "path", NULL},
    {5, PROTO_T_BOOL, PROTO_F_KEEP, "optional", NULL},
};
static const struct proto_message core_v1_ClusterTrustBundleProjection = {
    "k8s.io.api.core.v1.ClusterTrustBundleProjection",
    ST_ARRAY_LEN(core_v1_ClusterTrustBundleProjection_fields),
    core_v1_ClusterTrustBundleProjection_fields,
};

static const struct proto_field core_v1_PortworxVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "volumeID", NULL},
    {2, PROTO_T_STRING, 0, "fsType", NULL},
    {3, PROTO_T_BOOL, 0, "readOnly", NULL},
};
static const struct proto_message core_v1_PortworxVolumeSource = {
    "k8s.io.api.core.v1.PortworxVolumeSource",
    ST_ARRAY_LEN(core_v1_PortworxVolumeSource_fields),
    core_v1_PortworxVolumeSource_fields,
};

static const struct proto_field core_v1_ScaleIOVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "gateway", NULL},
    {2, PROTO_T_STRING, 0, "system", NULL},
    {3, PROTO_T_MESSAGE, 0, "secretRef", &core_v1_LocalObjectReference},
    {4, PROTO_T_BOOL, 0, "sslEnabled", NULL},
    {5, PROTO_T_STRING, 0, "protectionDomain", NULL},
    {6, PROTO_T_STRING, 0, "storagePool", NULL},
    {7, PROTO_T_STRING, 0, "storageMode", NULL},
    {8, PROTO_T_STRING, 0, "volumeName", NULL},
    {9, PROTO_T_STRING, 0, "fsType", NULL},
    {10, PROTO_T_BOOL, 0, "readOnly", NULL},
};
static const struct proto_message core_v1_ScaleIOVolumeSource = {
    "k8s.io.api.core.v1.ScaleIOVolumeSource",
    ST_ARRAY_LEN(core_v1_ScaleIOVolumeSource_fields),
    core_v1_ScaleIOVolumeSource_fields,
};

static const struct proto_field core_v1_StorageOSVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "volumeName", NULL},
    {2, PROTO_T_STRING, 0, "volumeNamespace", NULL},
    {3, PROTO_T_STRING, 0, "fsType", NULL},
    {4, PROTO_T_BOOL, 0, "readOnly", NULL},
    {5, PROTO_T_MESSAGE, 0, "secretRef", &core_v1_LocalObjectReference},
};
static const struct proto_message core_v1_StorageOSVolumeSource = {
    "k8s.io.api.core.v1.StorageOSVolumeSource",
    ST_ARRAY_LEN(core_v1_StorageOSVolumeSource_fields),
    core_v1_StorageOSVolumeSource_fields,
};

static const struct proto_field core_v1_CSIVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "driver", NULL},
    {2, PROTO_T_BOOL, PROTO_F_KEEP, "readOnly", NULL},
    {3, PROTO_T_STRING, 0, "fsType", NULL},
    {4, PROTO_T_MAP, 0, "volumeAttributes", &core_v1_CSIVolumeSource_VolumeAttributesEntry},
    {5, PROTO_T_MESSAGE, 0, "nodePublishSecretRef", &core_v1_LocalObjectReference},
};
static const struct proto_message core_v1_CSIVolumeSource = {
    "k8s.io.api.core.v1.CSIVolumeSource",
    ST_ARRAY_LEN(core_v1_CSIVolumeSource_fields),
    core_v1_CSIVolumeSource_fields,
};

static const struct proto_field core_v1_CSIVolumeSource_VolumeAttributesEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_STRING, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_CSIVolumeSource_VolumeAttributesEntry = {
    "k8s.io.api.core.v1.CSIVolumeSource.VolumeAttributesEntry",
    ST_ARRAY_LEN(core_v1_CSIVolumeSource_VolumeAttributesEntry_fields),
    core_v1_CSIVolumeSource_VolumeAttributesEntry_fields,
};

static const struct proto_field core_v1_EphemeralVolumeSource_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "volumeClaimTemplate", &core_v1_PersistentVolumeClaimTemplate},
};
static const struct proto_message core_v1_EphemeralVolumeSource = {
    "k8s.io.api.core.v1.EphemeralVolumeSource",
    ST_ARRAY_LEN(core_v1_EphemeralVolumeSource_fields),
    core_v1_EphemeralVolumeSource_fields,
};

static const struct proto_field core_v1_PersistentVolumeClaimTemplate_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &core_v1_PersistentVolumeClaimSpec},
};
static const struct proto_message core_v1_PersistentVolumeClaimTemplate = {
    "k8s.io.api.core.v1.PersistentVolumeClaimTemplate",
    ST_ARRAY_LEN(core_v1_PersistentVolumeClaimTemplate_fields),
    core_v1_PersistentVolumeClaimTemplate_fields,
};

static const struct proto_field core_v1_PersistentVolumeClaimSpec_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "accessModes", NULL},
    {2, PROTO_T_MESSAGE, 0, "resources", &core_v1_VolumeResourceRequirements},
    {3, PROTO_T_STRING, 0, "volumeName", NULL},
    {4, PROTO_T_MESSAGE, 0, "selector", &meta_v1_LabelSelector},
    {5, PROTO_T_STRING, 0, "storageClassName", NULL},
    {6, PROTO_T_STRING, 0, "volumeMode", NULL},
    {7, PROTO_T_MESSAGE, 0, "dataSource", &core_v1_TypedLocalObjectReference},
    {8, PROTO_T_MESSAGE, 0, "dataSourceRef", &core_v1_TypedObjectReference},
    {9, PROTO_T_STRING, 0, "volumeAttributesClassName", NULL},
};
static const struct proto_message core_v1_PersistentVolumeClaimSpec = {
    "k8s.io.api.core.v1.PersistentVolumeClaimSpec",
    ST_ARRAY_LEN(core_v1_PersistentVolumeClaimSpec_fields),
    core_v1_PersistentVolumeClaimSpec_fields,
};

static const struct proto_field core_v1_VolumeResourceRequirements_fields[] = {
    {1, PROTO_T_MAP, 0, "limits", &core_v1_VolumeResourceRequirements_LimitsEntry},
    {2, PROTO_T_MAP, 0, "requests", &core_v1_VolumeResourceRequirements_RequestsEntry},
};
static const struct proto_message core_v1_VolumeResourceRequirements = {
    "k8s.io.api.core.v1.VolumeResourceRequirements",
    ST_ARRAY_LEN(core_v1_VolumeResourceRequirements_fields),
    core_v1_VolumeResourceRequirements_fields,
};

static const struct proto_field core_v1_VolumeResourceRequirements_LimitsEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_QUANTITY, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_VolumeResourceRequirements_LimitsEntry = {
    "k8s.io.api.core.v1.VolumeResourceRequirements.LimitsEntry",
    ST_ARRAY_LEN(core_v1_VolumeResourceRequirements_LimitsEntry_fields),
    core_v1_VolumeResourceRequirements_LimitsEntry_fields,
};

static const struct proto_field core_v1_VolumeResourceRequirements_RequestsEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_QUANTITY, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_VolumeResourceRequirements_RequestsEntry = {
    "k8s.io.api.core.v1.VolumeResourceRequirements.RequestsEntry",
    ST_ARRAY_LEN(core_v1_VolumeResourceRequirements_RequestsEntry_fields),
    core_v1_VolumeResourceRequirements_RequestsEntry_fields,
};

static const struct proto_field core_v1_TypedLocalObjectReference_fields[] = {
    {1, PROTO_T_STRING, 0, "apiGroup", NULL},
    {2, PROTO_T_STRING, 0, "kind", NULL},
    {3, PROTO_T_STRING, 0, "name", NULL},
};
static const struct proto_message core_v1_TypedLocalObjectReference = {
    "k8s.io.api.core.v1.TypedLocalObjectReference",
    ST_ARRAY_LEN(core_v1_TypedLocalObjectReference_fields),
    core_v1_TypedLocalObjectReference_fields,
};

static const struct proto_field core_v1_TypedObjectReference_fields[] = {
    {1, PROTO_T_STRING, 0, "apiGroup", NULL},
    {2, PROTO_T_STRING, 0, "kind", NULL},
    {3, PROTO_T_STRING, 0, "name", NULL},
    {4, PROTO_T_STRING, 0, "namespace", NULL},
};
static const struct proto_message core_v1_TypedObjectReference = {
    "k8s.io.api.core.v1.TypedObjectReference",
    ST_ARRAY_LEN(core_v1_TypedObjectReference_fields),
    core_v1_TypedObjectReference_fields,
};

static const struct proto_field core_v1_ImageVolumeSource_fields[] = {
    {1, PROTO_T_STRING, 0, "reference", NULL},
    {2, PROTO_T_STRING, 0, "pullPolicy", NULL},
};
static const struct proto_message core_v1_ImageVolumeSource = {
    "k8s.io.api.core.v1.ImageVolumeSource",
    ST_ARRAY_LEN(core_v1_ImageVolumeSource_fields),
    core_v1_ImageVolumeSource_fields,
};

static const struct proto_field core_v1_Container_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_STRING, 0, "image", NULL},
    {3, PROTO_T_STRING, PROTO_F_REPEATED, "command", NULL},
    {4, PROTO_T_STRING, PROTO_F_REPEATED, "args", NULL},
    {5, PROTO_T_STRING, 0, "workingDir", NULL},
    {6, PROTO_T_MESSAGE, PROTO_F_REPEATED, "ports", &core_v1_ContainerPort},
    {7, PROTO_T_MESSAGE, PROTO_F_REPEATED, "env", &core_v1_EnvVar},
    {8, PROTO_T_MESSAGE, 0, "resources", &core_v1_ResourceRequirements},
    {9, PROTO_T_MESSAGE, PROTO_F_REPEATED, "volumeMounts", &core_v1_VolumeMount},
    {10, PROTO_T_MESSAGE, 0, "livenessProbe", &core_v1_Probe},
    {11, PROTO_T_MESSAGE, 0, "readinessProbe", &core_v1_Probe},
    {12, PROTO_T_MESSAGE, 0, "lifecycle", &core_v1_Lifecycle},
    {13, PROTO_T_STRING, 0, "terminationMessagePath", NULL},
    {14, PROTO_T_STRING, 0, "imagePullPolicy", NULL},
    {15, PROTO_T_MESSAGE, 0, "securityContext", &core_v1_SecurityContext},
    {16, PROTO_T_BOOL, 0, "stdin", NULL},
    {17, PROTO_T_BOOL, 0, "stdinOnce", NULL},
    {18, PROTO_T_BOOL, 0, "tty", NULL},
    {19, PROTO_T_MESSAGE, PROTO_F_REPEATED, "envFrom", &core_v1_EnvFromSource},
    {20, PROTO_T_STRING, 0, "terminationMessagePolicy", NULL},
    {21, PROTO_T_MESSAGE, PROTO_F_REPEATED, "volumeDevices", &core_v1_VolumeDevice},
    {22, PROTO_T_MESSAGE, 0, "startupProbe", &core_v1_Probe},
    {23, PROTO_T_MESSAGE, PROTO_F_REPEATED, "resizePolicy", &core_v1_ContainerResizePolicy},
    {24, PROTO_T_STRING, 0, "restartPolicy", NULL},
};
static const struct proto_message core_v1_Container = {
    "k8s.io.api.core.v1.Container",
    ST_ARRAY_LEN(core_v1_Container_fields),
    core_v1_Container_fields,
};

static const struct proto_field core_v1_ContainerPort_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_INT32, 0, "hostPort", NULL},
    {3, PROTO_T_INT32, PROTO_F_KEEP, "containerPort", NULL},
    {4, PROTO_T_STRING, 0, "protocol", NULL},
    {5, PROTO_T_STRING, 0, "hostIP", NULL},
};
static const struct proto_message core_v1_ContainerPort = {
    "k8s.io.api.core.v1.ContainerPort",
    ST_ARRAY_LEN(core_v1_ContainerPort_fields),
    core_v1_ContainerPort_fields,
};

static const struct proto_field core_v1_EnvFromSource_fields[] = {
    {1, PROTO_T_STRING, 0, "prefix", NULL},
    {2, PROTO_T_MESSAGE, 0, "configMapRef", &core_v1_ConfigMapEnvSource},
    {3, PROTO_T_MESSAGE, 0, "secretRef", &core_v1_SecretEnvSource},
};
static const struct proto_message core_v1_EnvFromSource = {
    "k8s.io.api.core.v1.EnvFromSource",
    ST_ARRAY_LEN(core_v1_EnvFromSource_fields),
    core_v1_EnvFromSource_fields,
};

static const struct proto_field core_v1_ConfigMapEnvSource_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_INLINE, "localObjectReference", &core_v1_LocalObjectReference},
    {2, PROTO_T_BOOL, PROTO_F_KEEP, "optional", NULL},
};
static const struct proto_message core_v1_ConfigMapEnvSource = {
    "k8s.io.api.core.v1.ConfigMapEnvSource",
    ST_ARRAY_LEN(core_v1_ConfigMapEnvSource_fields),
    core_v1_ConfigMapEnvSource_fields,
};

static const struct proto_field core_v1_SecretEnvSource_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_INLINE, "localObjectReference", &core_v1_LocalObjectReference},
    {2, PROTO_T_BOOL, PROTO_F_KEEP, "optional", NULL},
};
static const struct proto_message core_v1_SecretEnvSource = {
    "k8s.io.api.core.v1.SecretEnvSource",
    ST_ARRAY_LEN(core_v1_SecretEnvSource_fields),
    core_v1_SecretEnvSource_fields,
};

static const struct proto_field core_v1_EnvVar_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_STRING, 0, "value", NULL},
    {3, PROTO_T_MESSAGE, 0, "valueFrom", &core_v1_EnvVarSource},
};
static const struct proto_message core_v1_EnvVar = {
    "k8s.io.api.core.v1.EnvVar",
    ST_ARRAY_LEN(core_v1_EnvVar_fields),
    core_v1_EnvVar_fields,
};

static const struct proto_field core_v1_EnvVarSource_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "fieldRef", &core_v1_ObjectFieldSelector},
    {2, PROTO_T_MESSAGE, 0, "resourceFieldRef", &core_v1_ResourceFieldSelector},
    {3, PROTO_T_MESSAGE, 0, "configMapKeyRef", &core_v1_ConfigMapKeySelector},
    {4, PROTO_T_MESSAGE, 0, "secretKeyRef", &core_v1_SecretKeySelector},
};
static const struct proto_message core_v1_EnvVarSource = {
    "k8s.io.api.core.v1.EnvVarSource",
    ST_ARRAY_LEN(core_v1_EnvVarSource_fields),
    core_v1_EnvVarSource_fields,
};

static const struct proto_field core_v1_ConfigMapKeySelector_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_INLINE, "localObjectReference", &core_v1_LocalObjectReference},
    {2, PROTO_T_STRING, 0, "key", NULL},
    {3, PROTO_T_BOOL, PROTO_F_KEEP, "optional", NULL},
};
static const struct proto_message core_v1_ConfigMapKeySelector = {
    "k8s.io.api.core.v1.ConfigMapKeySelector",
    ST_ARRAY_LEN(core_v1_ConfigMapKeySelector_fields),
    core_v1_ConfigMapKeySelector_fields,
};

static const struct proto_field core_v1_SecretKeySelector_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_INLINE, "localObjectReference", &core_v1_LocalObjectReference},
    {2, PROTO_T_STRING, 0, "key", NULL},
    {3, PROTO_T_BOOL, PROTO_F_KEEP, "optional", NULL},
};
static const struct proto_message core_v1_SecretKeySelector = {
    "k8s.io.api.core.v1.SecretKeySelector",
    ST_ARRAY_LEN(core_v1_SecretKeySelector_fields),
    core_v1_SecretKeySelector_fields,
};

static const struct proto_field core_v1_ResourceRequirements_fields[] = {
    {1, PROTO_T_MAP, 0, "limits", &core_v1_ResourceRequirements_LimitsEntry},
    {2, PROTO_T_MAP, 0, "requests", &core_v1_ResourceRequirements_RequestsEntry},
    {3, PROTO_T_MESSAGE, PROTO_F_REPEATED, "claims", &core_v1_ResourceClaim},
};
static const struct proto_message core_v1_ResourceRequirements = {
    "k8s.io.api.core.v1.ResourceRequirements",
    ST_ARRAY_LEN(core_v1_ResourceRequirements_fields),
    core_v1_ResourceRequirements_fields,
};

static const struct proto_field core_v1_ResourceRequirements_LimitsEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_QUANTITY, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_ResourceRequirements_LimitsEntry = {
    "k8s.io.api.core.v1.ResourceRequirements.LimitsEntry",
    ST_ARRAY_LEN(core_v1_ResourceRequirements_LimitsEntry_fields),
    core_v1_ResourceRequirements_LimitsEntry_fields,
};

static const struct proto_field core_v1_ResourceRequirements_RequestsEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_QUANTITY, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_ResourceRequirements_RequestsEntry = {
    "k8s.io.api.core.v1.ResourceRequirements.RequestsEntry",
    ST_ARRAY_LEN(core_v1_ResourceRequirements_RequestsEntry_fields),
    core_v1_ResourceRequirements_RequestsEntry_fields,
};

static const struct proto_field core_v1_ResourceClaim_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_STRING, 0, "request", NULL},
};
static const struct proto_message core_v1_ResourceClaim = {
    "k8s.io.api.core.v1.ResourceClaim",
    ST_ARRAY_LEN(core_v1_ResourceClaim_fields),
    core_v1_ResourceClaim_fields,
};

static const struct proto_field core_v1_ContainerResizePolicy_fields[] = {
    {1, PROTO_T_STRING, 0, "resourceName", NULL},
    {2, PROTO_T_STRING, 0, "restartPolicy", NULL},
};
static const struct proto_message core_v1_ContainerResizePolicy = {
    "k8s.io.api.core.v1.ContainerResizePolicy",
    ST_ARRAY_LEN(core_v1_ContainerResizePolicy_fields),
    core_v1_ContainerResizePolicy_fields,
};

static const struct proto_field core_v1_VolumeMount_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_BOOL, 0, "readOnly", NULL},
    {3, PROTO_T_STRING, 0, "mountPath", NULL},
    {4, PROTO_T_STRING, 0, "subPath", NULL},
    {5, PROTO_T_STRING, 0, "mountPropagation", NULL},
    {6, PROTO_T_STRING, 0, "subPathExpr", NULL},
    {7, PROTO_T_STRING, 0, "recursiveReadOnly", NULL},
};
static const struct proto_message core_v1_VolumeMount = {
    "k8s.io.api.core.v1.VolumeMount",
    ST_ARRAY_LEN(core_v1_VolumeMount_fields),
    core_v1_VolumeMount_fields,
};

static const struct proto_field core_v1_VolumeDevice_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_STRING, 0, "devicePath", NULL},
};
static const struct proto_message core_v1_VolumeDevice = {
    "k8s.io.api.core.v1.VolumeDevice",
    ST_ARRAY_LEN(core_v1_VolumeDevice_fields),
    core_v1_VolumeDevice_fields,
};

static const struct proto_field core_v1_Probe_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_INLINE, "handler", &core_v1_ProbeHandler},
    {2, PROTO_T_INT32, 0, "initialDelaySeconds", NULL},
    {3, PROTO_T_INT32, 0, "timeoutSeconds", NULL},
    {4, PROTO_T_INT32, 0, "periodSeconds", NULL},
    {5, PROTO_T_INT32, 0, "successThreshold", NULL},
    {6, PROTO_T_INT32, 0, "failureThreshold", NULL},
    {7, PROTO_T_INT64, PROTO_F_KEEP, "terminationGracePeriodSeconds", NULL},
};
static const struct proto_message core_v1_Probe = {
    "k8s.io.api.core.v1.Probe",
    ST_ARRAY_LEN(core_v1_Probe_fields),
    core_v1_Probe_fields,
};

static const struct proto_field core_v1_ProbeHandler_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "exec", &core_v1_ExecAction},
    {2, PROTO_T_MESSAGE, 0, "httpGet", &core_v1_HTTPGetAction},
    {3, PROTO_T_MESSAGE, 0, "tcpSocket", &core_v1_TCPSocketAction},
    {4, PROTO_T_MESSAGE, 0, "grpc", &core_v1_GRPCAction},
};
static const struct proto_message core_v1_ProbeHandler = {
    "k8s.io.api.core.v1.ProbeHandler",
    ST_ARRAY_LEN(core_v1_ProbeHandler_fields),
    core_v1_ProbeHandler_fields,
};

static const struct proto_field core_v1_ExecAction_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "command", NULL},
};
static const struct proto_message core_v1_ExecAction = {
    "k8s.io.api.core.v1.ExecAction",
    ST_ARRAY_LEN(core_v1_ExecAction_fields),
    core_v1_ExecAction_fields,
};

static const struct proto_field core_v1_HTTPGetAction_fields[] = {
    {1, PROTO_T_STRING, 0, "path", NULL},
    {2, PROTO_T_INTORSTR, 0, "port", NULL},
    {3, PROTO_T_STRING, 0, "host", NULL},
    {4, PROTO_T_STRING, 0, "scheme", NULL},
    {5, PROTO_T_MESSAGE, PROTO_F_REPEATED, "httpHeaders", &core_v1_HTTPHeader},
};
static const struct proto_message core_v1_HTTPGetAction = {
    "k8s.io.api.core.v1.HTTPGetAction",
    ST_ARRAY_LEN(core_v1_HTTPGetAction_fields),
    core_v1_HTTPGetAction_fields,
};

static const struct proto_field core_v1_HTTPHeader_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_STRING, 0, "value", NULL},
};
static const struct proto_message core_v1_HTTPHeader = {
    "k8s.io.api.core.v1.HTTPHeader",
    ST_ARRAY_LEN(core_v1_HTTPHeader_fields),
    core_v1_HTTPHeader_fields,
};

static const struct proto_field core_v1_TCPSocketAction_fields[] = {
    {1, PROTO_T_INTORSTR, 0, "port", NULL},
    {2, PROTO_T_STRING, 0, "host", NULL},
};
static const struct proto_message core_v1_TCPSocketAction = {
    "k8s.io.api.core.v1.TCPSocketAction",
    ST_ARRAY_LEN(core_v1_TCPSocketAction_fields),
    core_v1_TCPSocketAction_fields,
};

static const struct proto_field core_v1_GRPCAction_fields[] = {
    {1, PROTO_T_INT32, PROTO_F_KEEP, "port", NULL},
    {2, PROTO_T_STRING, 0, "service", NULL},
};
static const struct proto_message core_v1_GRPCAction = {
    "k8s.io.api.core.v1.GRPCAction",
    ST_ARRAY_LEN(core_v1_GRPCAction_fields),
    core_v1_GRPCAction_fields,
};

static const struct proto_field core_v1_Lifecycle_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "postStart", &core_v1_LifecycleHandler},
    {2, PROTO_T_MESSAGE, 0, "preStop", &core_v1_LifecycleHandler},
};
static const struct proto_message core_v1_Lifecycle = {
    "k8s.io.api.core.v1.Lifecycle",
    ST_ARRAY_LEN(core_v1_Lifecycle_fields),
    core_v1_Lifecycle_fields,
};

static const struct proto_field core_v1_LifecycleHandler_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "exec", &core_v1_ExecAction},
    {2, PROTO_T_MESSAGE, 0, "httpGet", &core_v1_HTTPGetAction},
    {3, PROTO_T_MESSAGE, 0, "tcpSocket", &core_v1_TCPSocketAction},
    {4, PROTO_T_MESSAGE, 0, "sleep", &core_v1_SleepAction},
};
static const struct proto_message core_v1_LifecycleHandler = {
    "k8s.io.api.core.v1.LifecycleHandler",
    ST_ARRAY_LEN(core_v1_LifecycleHandler_fields),
    core_v1_LifecycleHandler_fields,
};

static const struct proto_field core_v1_SleepAction_fields[] = {
    {1, PROTO_T_INT64, PROTO_F_KEEP, "seconds", NULL},
};
static const struct proto_message core_v1_SleepAction = {
    "k8s.io.api.core.v1.SleepAction",
    ST_ARRAY_LEN(core_v1_SleepAction_fields),
    core_v1_SleepAction_fields,
};

static const struct proto_field core_v1_SecurityContext_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "capabilities", &core_v1_Capabilities},
    {2, PROTO_T_BOOL, PROTO_F_KEEP, "privileged", NULL},
    {3, PROTO_T_MESSAGE, 0, "seLinuxOptions", &core_v1_SELinuxOptions},
    {4, PROTO_T_INT64, PROTO_F_KEEP, "runAsUser", NULL},
    {5, PROTO_T_BOOL, PROTO_F_KEEP, "runAsNonRoot", NULL},
    {6, PROTO_T_BOOL, PROTO_F_KEEP, "readOnlyRootFilesystem", NULL},
    {7, PROTO_T_BOOL, PROTO_F_KEEP, "allowPrivilegeEscalation", NULL},
    {8, PROTO_T_INT64, PROTO_F_KEEP, "runAsGroup", NULL},
    {9, PROTO_T_STRING, 0, "procMount", NULL},
    {10, PROTO_T_MESSAGE, 0, "windowsOptions", &core_v1_WindowsSecurityContextOptions},
    {11, PROTO_T_MESSAGE, 0, "seccompProfile", &core_v1_SeccompProfile},
    {12, PROTO_T_MESSAGE, 0, "appArmorProfile", &core_v1_AppArmorProfile},
};
static const struct proto_message core_v1_SecurityContext = {
    "k8s.io.api.core.v1.SecurityContext",
    ST_ARRAY_LEN(core_v1_SecurityContext_fields),
    core_v1_SecurityContext_fields,
};

static const struct proto_field core_v1_Capabilities_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "add", NULL},
    {2, PROTO_T_STRING, PROTO_F_REPEATED, "drop", NULL},
};
static const struct proto_message core_v1_Capabilities = {
    "k8s.io.api.core.v1.Capabilities",
    ST_ARRAY_LEN(core_v1_Capabilities_fields),
    core_v1_Capabilities_fields,
};

static const struct proto_field core_v1_SELinuxOptions_fields[] = {
    {1, PROTO_T_STRING, 0, "user", NULL},
    {2, PROTO_T_STRING, 0, "role", NULL},
    {3, PROTO_T_STRING, 0, "type", NULL},
    {4, PROTO_T_STRING, 0, "level", NULL},
};
static const struct proto_message core_v1_SELinuxOptions = {
    "k8s.io.api.core.v1.SELinuxOptions",
    ST_ARRAY_LEN(core_v1_SELinuxOptions_fields),
    core_v1_SELinuxOptions_fields,
};

static const struct proto_field core_v1_WindowsSecurityContextOptions_fields[] = {
    {1, PROTO_T_STRING, 0, "gmsaCredentialSpecName", NULL},
    {2, PROTO_T_STRING, 0, "gmsaCredentialSpec", NULL},
    {3, PROTO_T_STRING, 0, "runAsUserName", NULL},
    {4, PROTO_T_BOOL, PROTO_F_KEEP, "hostProcess", NULL},
};
static const struct proto_message core_v1_WindowsSecurityContextOptions = {
    "k8s.io.api.core.v1.WindowsSecurityContextOptions",
    ST_ARRAY_LEN(core_v1_WindowsSecurityContextOptions_fields),
    core_v1_WindowsSecurityContextOptions_fields,
};

static const struct proto_field core_v1_SeccompProfile_fields[] = {
    {1, PROTO_T_STRING, 0, "type", NULL},
    {2, PROTO_T_STRING, 0, "localhostProfile", NULL},
};
static const struct proto_message core_v1_SeccompProfile = {
    "k8s.io.api.core.v1.SeccompProfile",
    ST_ARRAY_LEN(core_v1_SeccompProfile_fields),
    core_v1_SeccompProfile_fields,
};

static const struct proto_field core_v1_AppArmorProfile_fields[] = {
    {1, PROTO_T_STRING, 0, "type", NULL},
    {2, PROTO_T_STRING, 0, "localhostProfile", NULL},
};
static const struct proto_message core_v1_AppArmorProfile = {
    "k8s.io.api.core.v1.AppArmorProfile",
    ST_ARRAY_LEN(core_v1_AppArmorProfile_fields),
    core_v1_AppArmorProfile_fields,
};

static const struct proto_field core_v1_EphemeralContainer_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_INLINE,
     "ephemeralContainerCommon", &core_v1_EphemeralContainerCommon},
    {2, PROTO_T_STRING, 0, "targetContainerName", NULL},
};
static const struct proto_message core_v1_EphemeralContainer = {
    "k8s.io.api.core.v1.EphemeralContainer",
    ST_ARRAY_LEN(core_v1_EphemeralContainer_fields),
    core_v1_EphemeralContainer_fields,
};

static const struct proto_field core_v1_EphemeralContainerCommon_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_STRING, 0, "image", NULL},
    {3, PROTO_T_STRING, PROTO_F_REPEATED, "command", NULL},
    {4, PROTO_T_STRING, PROTO_F_REPEATED, "args", NULL},
    {5, PROTO_T_STRING, 0, "workingDir", NULL},
    {6, PROTO_T_MESSAGE, PROTO_F_REPEATED, "ports", &core_v1_ContainerPort},
    {7, PROTO_T_MESSAGE, PROTO_F_REPEATED, "env", &core_v1_EnvVar},
    {8, PROTO_T_MESSAGE, 0, "resources", &core_v1_ResourceRequirements},
    {9, PROTO_T_MESSAGE, PROTO_F_REPEATED, "volumeMounts", &core_v1_VolumeMount},
    {10, PROTO_T_MESSAGE, 0, "livenessProbe", &core_v1_Probe},
    {11, PROTO_T_MESSAGE, 0, "readinessProbe", &core_v1_Probe},
    {12, PROTO_T_MESSAGE, 0, "lifecycle", &core_v1_Lifecycle},
    {13, PROTO_T_STRING, 0, "terminationMessagePath", NULL},
    {14, PROTO_T_STRING, 0, "imagePullPolicy", NULL},
    {15, PROTO_T_MESSAGE, 0, "securityContext", &core_v1_SecurityContext},
    {16, PROTO_T_BOOL, 0, "stdin", NULL},
    {17, PROTO_T_BOOL, 0, "stdinOnce", NULL},
    {18, PROTO_T_BOOL, 0, "tty", NULL},
    {19, PROTO_T_MESSAGE, PROTO_F_REPEATED, "envFrom", &core_v1_EnvFromSource},
    {20, PROTO_T_STRING, 0, "terminationMessagePolicy", NULL},
    {21, PROTO_T_MESSAGE, PROTO_F_REPEATED, "volumeDevices", &core_v1_VolumeDevice},
    {22, PROTO_T_MESSAGE, 0, "startupProbe", &core_v1_Probe},
    {23, PROTO_T_MESSAGE, PROTO_F_REPEATED, "resizePolicy", &core_v1_ContainerResizePolicy},
    {24, PROTO_T_STRING, 0, "restartPolicy", NULL},
};
static const struct proto_message core_v1_EphemeralContainerCommon = {
    "k8s.io.api.core.v1.EphemeralContainerCommon",
    ST_ARRAY_LEN(core_v1_EphemeralContainerCommon_fields),
    core_v1_EphemeralContainerCommon_fields,
};

static const struct proto_field core_v1_PodSpec_NodeSelectorEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_STRING, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_PodSpec_NodeSelectorEntry = {
    "k8s.io.api.core.v1.PodSpec.NodeSelectorEntry",
    ST_ARRAY_LEN(core_v1_PodSpec_NodeSelectorEntry_fields),
    core_v1_PodSpec_NodeSelectorEntry_fields,
};

static const struct proto_field core_v1_PodSecurityContext_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "seLinuxOptions", &core_v1_SELinuxOptions},
    {2, PROTO_T_INT64, PROTO_F_KEEP, "runAsUser", NULL},
    {3, PROTO_T_BOOL, PROTO_F_KEEP, "runAsNonRoot", NULL},
    {4, PROTO_T_INT64, PROTO_F_REPEATED, "supplementalGroups", NULL},
    {5, PROTO_T_INT64, PROTO_F_KEEP, "fsGroup", NULL},
    {6, PROTO_T_INT64, PROTO_F_KEEP, "runAsGroup", NULL},
    {7, PROTO_T_MESSAGE, PROTO_F_REPEATED, "sysctls", &core_v1_Sysctl},
    {8, PROTO_T_MESSAGE, 0, "windowsOptions", &core_v1_WindowsSecurityContextOptions},
    {9, PROTO_T_STRING, 0, "fsGroupChangePolicy", NULL},
    {10, PROTO_T_MESSAGE, 0, "seccompProfile", &core_v1_SeccompProfile},
    {11, PROTO_T_MESSAGE, 0, "appArmorProfile", &core_v1_AppArmorProfile},
    {12, PROTO_T_STRING, 0, "supplementalGroupsPolicy", NULL},
    {13, PROTO_T_STRING, 0, "seLinuxChangePolicy", NULL},
};
static const struct proto_message core_v1_PodSecurityContext = {
    "k8s.io.api.core.v1.PodSecurityContext",
    ST_ARRAY_LEN(core_v1_PodSecurityContext_fields),
    core_v1_PodSecurityContext_fields,
};

static const struct proto_field core_v1_Sysctl_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_STRING, 0, "value", NULL},
};
static const struct proto_message core_v1_Sysctl = {
    "k8s.io.api.core.v1.Sysctl",
    ST_ARRAY_LEN(core_v1_Sysctl_fields),
    core_v1_Sysctl_fields,
};

static const struct proto_field core_v1_Affinity_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "nodeAffinity", &core_v1_NodeAffinity},
    {2, PROTO_T_MESSAGE, 0, "podAffinity", &core_v1_PodAffinity},
    {3, PROTO_T_MESSAGE, 0, "podAntiAffinity", &core_v1_PodAntiAffinity},
};
static const struct proto_message core_v1_Affinity = {
    "k8s.io.api.core.v1.Affinity",
    ST_ARRAY_LEN(core_v1_Affinity_fields),
    core_v1_Affinity_fields,
};

static const struct proto_field core_v1_NodeAffinity_fields[] = {
    {1, PROTO_T_MESSAGE, 0,
     "requiredDuringSchedulingIgnoredDuringExecution", &core_v1_NodeSelector},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED,
     "preferredDuringSchedulingIgnoredDuringExecution", &core_v1_PreferredSchedulingTerm},
};
static const struct proto_message core_v1_NodeAffinity = {
    "k8s.io.api.core.v1.NodeAffinity",
    ST_ARRAY_LEN(core_v1_NodeAffinity_fields),
    core_v1_NodeAffinity_fields,
};

static const struct proto_field core_v1_NodeSelector_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED, "nodeSelectorTerms", &core_v1_NodeSelectorTerm},
};
static const struct proto_message core_v1_NodeSelector = {
    "k8s.io.api.core.v1.NodeSelector",
    ST_ARRAY_LEN(core_v1_NodeSelector_fields),
    core_v1_NodeSelector_fields,
};

static const struct proto_field core_v1_NodeSelectorTerm_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED, "matchExpressions", &core_v1_NodeSelectorRequirement},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "matchFields", &core_v1_NodeSelectorRequirement},
};
static const struct proto_message core_v1_NodeSelectorTerm = {
    "k8s.io.api.core.v1.NodeSelectorTerm",
    ST_ARRAY_LEN(core_v1_NodeSelectorTerm_fields),
    core_v1_NodeSelectorTerm_fields,
};

static const struct proto_field core_v1_NodeSelectorRequirement_fields[] = {
    {1, PROTO_T_STRING, 0, "key", NULL},
    {2, PROTO_T_STRING, 0, "operator", NULL},
    {3, PROTO_T_STRING, PROTO_F_REPEATED, "values", NULL},
};
static const struct proto_message core_v1_NodeSelectorRequirement = {
    "k8s.io.api.core.v1.NodeSelectorRequirement",
    ST_ARRAY_LEN(core_v1_NodeSelectorRequirement_fields),
    core_v1_NodeSelectorRequirement_fields,
};

static const struct proto_field core_v1_PreferredSchedulingTerm_fields[] = {
    {1, PROTO_T_INT32, PROTO_F_KEEP, "weight", NULL},
    {2, PROTO_T_MESSAGE, 0, "preference", &core_v1_NodeSelectorTerm},
};
static const struct proto_message core_v1_PreferredSchedulingTerm = {
    "k8s.io.api.core.v1.PreferredSchedulingTerm",
    ST_ARRAY_LEN(core_v1_PreferredSchedulingTerm_fields),
    core_v1_PreferredSchedulingTerm_fields,
};

static const struct proto_field core_v1_PodAffinity_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED,
     "requiredDuringSchedulingIgnoredDuringExecution", &core_v1_PodAffinityTerm},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED,
     "preferredDuringSchedulingIgnoredDuringExecution", &core_v1_WeightedPodAffinityTerm},
};
static const struct proto_message core_v1_PodAffinity = {
    "k8s.io.api.core.v1.PodAffinity",
    ST_ARRAY_LEN(core_v1_PodAffinity_fields),
    core_v1_PodAffinity_fields,
};

static const struct proto_field core_v1_PodAffinityTerm_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "labelSelector", &meta_v1_LabelSelector},
    {2, PROTO_T_STRING, PROTO_F_REPEATED, "namespaces", NULL},
    {3, PROTO_T_STRING, 0, "topologyKey", NULL},
    {4, PROTO_T_MESSAGE, 0, "namespaceSelector", &meta_v1_LabelSelector},
    {5, PROTO_T_STRING, PROTO_F_REPEATED, "matchLabelKeys", NULL},
    {6, PROTO_T_STRING, PROTO_F_REPEATED, "mismatchLabelKeys", NULL},
};
static const struct proto_message core_v1_PodAffinityTerm = {
    "k8s.io.api.core.v1.PodAffinityTerm",
    ST_ARRAY_LEN(core_v1_PodAffinityTerm_fields),
    core_v1_PodAffinityTerm_fields,
};

static const struct proto_field core_v1_WeightedPodAffinityTerm_fields[] = {
    {1, PROTO_T_INT32, PROTO_F_KEEP, "weight", NULL},
    {2, PROTO_T_MESSAGE, 0, "podAffinityTerm", &core_v1_PodAffinityTerm},
};
static const struct proto_message core_v1_WeightedPodAffinityTerm = {
    "k8s.io.api.core.v1.WeightedPodAffinityTerm",
    ST_ARRAY_LEN(core_v1_WeightedPodAffinityTerm_fields),
    core_v1_WeightedPodAffinityTerm_fields,
};

static const struct proto_field core_v1_PodAntiAffinity_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED,
     "requiredDuringSchedulingIgnoredDuringExecution", &core_v1_PodAffinityTerm},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED,
     "preferredDuringSchedulingIgnoredDuringExecution", &core_v1_WeightedPodAffinityTerm},
};
static const struct proto_message core_v1_PodAntiAffinity = {
    "k8s.io.api.core.v1.PodAntiAffinity",
    ST_ARRAY_LEN(core_v1_PodAntiAffinity_fields),
    core_v1_PodAntiAffinity_fields,
};

static const struct proto_field core_v1_Toleration_fields[] = {
    {1, PROTO_T_STRING, 0, "key", NULL},
    {2, PROTO_T_STRING, 0, "operator", NULL},
    {3, PROTO_T_STRING, 0, "value", NULL},
    {4, PROTO_T_STRING, 0, "effect", NULL},
    {5, PROTO_T_INT64, PROTO_F_KEEP, "tolerationSeconds", NULL},
};
static const struct proto_message core_v1_Toleration = {
    "k8s.io.api.core.v1.Toleration",
    ST_ARRAY_LEN(core_v1_Toleration_fields),
    core_v1_Toleration_fields,
};

static const struct proto_field core_v1_HostAlias_fields[] = {
    {1, PROTO_T_STRING, 0, "ip", NULL},
    {2, PROTO_T_STRING, PROTO_F_REPEATED, "hostnames", NULL},
};
static const struct proto_message core_v1_HostAlias = {
    "k8s.io.api.core.v1.HostAlias",
    ST_ARRAY_LEN(core_v1_HostAlias_fields),
    core_v1_HostAlias_fields,
};

static const struct proto_field core_v1_PodDNSConfig_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "nameservers", NULL},
    {2, PROTO_T_STRING, PROTO_F_REPEATED, "searches", NULL},
    {3, PROTO_T_MESSAGE, PROTO_F_REPEATED, "options", &core_v1_PodDNSConfigOption},
};
static const struct proto_message core_v1_PodDNSConfig = {
    "k8s.io.api.core.v1.PodDNSConfig",
    ST_ARRAY_LEN(core_v1_PodDNSConfig_fields),
    core_v1_PodDNSConfig_fields,
};

static const struct proto_field core_v1_PodDNSConfigOption_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {2, PROTO_T_STRING, 0, "value", NULL},
};
static const struct proto_message core_v1_PodDNSConfigOption = {
    "k8s.io.api.core.v1.PodDNSConfigOption",
    ST_ARRAY_LEN(core_v1_PodDNSConfigOption_fields),
    core_v1_PodDNSConfigOption_fields,
};

static const struct proto_field core_v1_PodReadinessGate_fields[] = {
    {1, PROTO_T_STRING, 0, "conditionType", NULL},
};
static const struct proto_message core_v1_PodReadinessGate = {
    "k8s.io.api.core.v1.PodReadinessGate",
    ST_ARRAY_LEN(core_v1_PodReadinessGate_fields),
    core_v1_PodReadinessGate_fields,
};

static const struct proto_field core_v1_PodSpec_OverheadEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_QUANTITY, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message core_v1_PodSpec_OverheadEntry = {
    "k8s.io.api.core.v1.PodSpec.OverheadEntry",
    ST_ARRAY_LEN(core_v1_PodSpec_OverheadEntry_fields),
    core_v1_PodSpec_OverheadEntry_fields,
};

static const struct proto_field core_v1_TopologySpreadConstraint_fields[] = {
    {1, PROTO_T_INT32, PROTO_F_KEEP, "maxSkew", NULL},
    {2, PROTO_T_STRING, 0, "topologyKey", NULL},
    {3, PROTO_T_STRING, 0, "whenUnsatisfiable", NULL},
    {4, PROTO_T_MESSAGE, 0, "labelSelector", &meta_v1_LabelSelector},
    {5, PROTO_T_INT32, PROTO_F_KEEP, "minDomains", NULL},
    {6, PROTO_T_STRING, 0, "nodeAffinityPolicy", NULL},
    {7, PROTO_T_STRING, 0, "nodeTaintsPolicy", NULL},
    {8, PROTO_T_STRING, PROTO_F_REPEATED, "matchLabelKeys", NULL},
};
static const struct proto_message core_v1_TopologySpreadConstraint = {
    "k8s.io.api.core.v1.TopologySpreadConstraint",
    ST_ARRAY_LEN(core_v1_TopologySpreadConstraint_fields),
    core_v1_TopologySpreadConstraint_fields,
};

static const struct proto_field core_v1_PodOS_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
};
static const struct proto_message core_v1_PodOS = {
    "k8s.io.api.core.v1.PodOS",
    ST_ARRAY_LEN(core_v1_PodOS_fields),
    core_v1_PodOS_fields,
};

static const struct proto_field core_v1_PodSchedulingGate_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
};
static const struct proto_message core_v1_PodSchedulingGate = {
    "k8s.io.api.core.v1.PodSchedulingGate",
    ST_ARRAY_LEN(core_v1_PodSchedulingGate_fields),
    core_v1_PodSchedulingGate_fields,
};

static const struct proto_field core_v1_PodResourceClaim_fields[] = {
    {1, PROTO_T_STRING, 0, "name", NULL},
    {3, PROTO_T_STRING, 0, "resourceClaimName", NULL},
    {4, PROTO_T_STRING, 0, "resourceClaimTemplateName", NULL},
};
static const struct proto_message core_v1_PodResourceClaim = {
    "k8s.io.api.core.v1.PodResourceClaim",
    ST_ARRAY_LEN(core_v1_PodResourceClaim_fields),
    core_v1_PodResourceClaim_fields,
};

static const struct proto_field apps_v1_DeploymentStrategy_fields[] = {
    {1, PROTO_T_STRING, 0, "type", NULL},
    {2, PROTO_T_MESSAGE, 0, "rollingUpdate", &apps_v1_RollingUpdateDeployment},
};
static const struct proto_message apps_v1_DeploymentStrategy = {
    "k8s.io.api.apps.v1.DeploymentStrategy",
    ST_ARRAY_LEN(apps_v1_DeploymentStrategy_fields),
    apps_v1_DeploymentStrategy_fields,
};

static const struct proto_field apps_v1_RollingUpdateDeployment_fields[] = {
    {1, PROTO_T_INTORSTR, 0, "maxUnavailable", NULL},
    {2, PROTO_T_INTORSTR, 0, "maxSurge", NULL},
};
static const struct proto_message apps_v1_RollingUpdateDeployment = {
    "k8s.io.api.apps.v1.RollingUpdateDeployment",
    ST_ARRAY_LEN(apps_v1_RollingUpdateDeployment_fields),
    apps_v1_RollingUpdateDeployment_fields,
};

static const struct proto_field apps_v1_DeploymentStatus_fields[] = {
    {1, PROTO_T_INT64, 0, "observedGeneration", NULL},
    {2, PROTO_T_INT32, 0, "replicas", NULL},
    {3, PROTO_T_INT32, 0, "updatedReplicas", NULL},
    {4, PROTO_T_INT32, 0, "availableReplicas", NULL},
    {5, PROTO_T_INT32, 0, "unavailableReplicas", NULL},
    {6, PROTO_T_MESSAGE, PROTO_F_REPEATED, "conditions", &apps_v1_DeploymentCondition},
    {7, PROTO_T_INT32, 0, "readyReplicas", NULL},
    {8, PROTO_T_INT32, PROTO_F_KEEP, "collisionCount", NULL},
};
static const struct proto_message apps_v1_DeploymentStatus = {
    "k8s.io.api.apps.v1.DeploymentStatus",
    ST_ARRAY_LEN(apps_v1_DeploymentStatus_fields),
    apps_v1_DeploymentStatus_fields,
};

static const struct proto_field apps_v1_DeploymentCondition_fields[] = {
    {1, PROTO_T_STRING, 0, "type", NULL},
    {2, PROTO_T_STRING, 0, "status", NULL},
    {4, PROTO_T_STRING, 0, "reason", NULL},
    {5, PROTO_T_STRING, 0, "message", NULL},
    {6, PROTO_T_TIME, 0, "lastUpdateTime", NULL},
    {7, PROTO_T_TIME, 0, "lastTransitionTime", NULL},
};
static const struct proto_message apps_v1_DeploymentCondition = {
    "k8s.io.api.apps.v1.DeploymentCondition",
    ST_ARRAY_LEN(apps_v1_DeploymentCondition_fields),
    apps_v1_DeploymentCondition_fields,
};

static const struct proto_field rbac_v1_Role_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "rules", &rbac_v1_PolicyRule},
};
static const struct proto_message rbac_v1_Role = {
    "k8s.io.api.rbac.v1.Role",
    ST_ARRAY_LEN(rbac_v1_Role_fields),
    rbac_v1_Role_fields,
};

static const struct proto_field rbac_v1_PolicyRule_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "verbs", NULL},
    {2, PROTO_T_STRING, PROTO_F_REPEATED, "apiGroups", NULL},
    {3, PROTO_T_STRING, PROTO_F_REPEATED, "resources", NULL},
    {4, PROTO_T_STRING, PROTO_F_REPEATED, "resourceNames", NULL},
    {5, PROTO_T_STRING, PROTO_F_REPEATED, "nonResourceURLs", NULL},
};
static const struct proto_message rbac_v1_PolicyRule = {
    "k8s.io.api.rbac.v1.PolicyRule",
    ST_ARRAY_LEN(rbac_v1_PolicyRule_fields),
    rbac_v1_PolicyRule_fields,
};

static const struct proto_field rbac_v1_ClusterRole_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "rules", &rbac_v1_PolicyRule},
    {3, PROTO_T_MESSAGE, 0, "aggregationRule", &rbac_v1_AggregationRule},
};
static const struct proto_message rbac_v1_ClusterRole = {
    "k8s.io.api.rbac.v1.ClusterRole",
    ST_ARRAY_LEN(rbac_v1_ClusterRole_fields),
    rbac_v1_ClusterRole_fields,
};

static const struct proto_field rbac_v1_AggregationRule_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED, "clusterRoleSelectors", &meta_v1_LabelSelector},
};
static const struct proto_message rbac_v1_AggregationRule = {
    "k8s.io.api.rbac.v1.AggregationRule",
    ST_ARRAY_LEN(rbac_v1_AggregationRule_fields),
    rbac_v1_AggregationRule_fields,
};

static const struct proto_field rbac_v1_RoleBinding_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "subjects", &rbac_v1_Subject},
    {3, PROTO_T_MESSAGE, 0, "roleRef", &rbac_v1_RoleRef},
};
static const struct proto_message rbac_v1_RoleBinding = {
    "k8s.io.api.rbac.v1.RoleBinding",
    ST_ARRAY_LEN(rbac_v1_RoleBinding_fields),
    rbac_v1_RoleBinding_fields,
};

static const struct proto_field rbac_v1_Subject_fields[] = {
    {1, PROTO_T_STRING, 0, "kind", NULL},
    {2, PROTO_T_STRING, 0, "apiGroup", NULL},
    {3, PROTO_T_STRING, 0, "name", NULL},
    {4, PROTO_T_STRING, 0, "namespace", NULL},
};
static const struct proto_message rbac_v1_Subject = {
    "k8s.io.api.rbac.v1.Subject",
    ST_ARRAY_LEN(rbac_v1_Subject_fields),
    rbac_v1_Subject_fields,
};

static const struct proto_field rbac_v1_RoleRef_fields[] = {
    {1, PROTO_T_STRING, 0, "apiGroup", NULL},
    {2, PROTO_T_STRING, 0, "kind", NULL},
    {3, PROTO_T_STRING, 0, "name", NULL},
};
static const struct proto_message rbac_v1_RoleRef = {
    "k8s.io.api.rbac.v1.RoleRef",
    ST_ARRAY_LEN(rbac_v1_RoleRef_fields),
    rbac_v1_RoleRef_fields,
};

static const struct proto_field rbac_v1_ClusterRoleBinding_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "subjects", &rbac_v1_Subject},
    {3, PROTO_T_MESSAGE, 0, "roleRef", &rbac_v1_RoleRef},
};
static const struct proto_message rbac_v1_ClusterRoleBinding = {
    "k8s.io.api.rbac.v1.ClusterRoleBinding",
    ST_ARRAY_LEN(rbac_v1_ClusterRoleBinding_fields),
    rbac_v1_ClusterRoleBinding_fields,
};

static const struct proto_field authorization_v1_SelfSubjectAccessReview_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &authorization_v1_SelfSubjectAccessReviewSpec},
    {3, PROTO_T_MESSAGE, 0, "status", &authorization_v1_SubjectAccessReviewStatus},
};
static const struct proto_message authorization_v1_SelfSubjectAccessReview = {
    "k8s.io.api.authorization.v1.SelfSubjectAccessReview",
    ST_ARRAY_LEN(authorization_v1_SelfSubjectAccessReview_fields),
    authorization_v1_SelfSubjectAccessReview_fields,
};

static const struct proto_field authorization_v1_SelfSubjectAccessReviewSpec_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "resourceAttributes", &authorization_v1_ResourceAttributes},
    {2, PROTO_T_MESSAGE, 0, "nonResourceAttributes", &authorization_v1_NonResourceAttributes},
};
static const struct proto_message authorization_v1_SelfSubjectAccessReviewSpec = {
    "k8s.io.api.authorization.v1.SelfSubjectAccessReviewSpec",
    ST_ARRAY_LEN(authorization_v1_SelfSubjectAccessReviewSpec_fields),
    authorization_v1_SelfSubjectAccessReviewSpec_fields,
};

static const struct proto_field authorization_v1_ResourceAttributes_fields[] = {
    {1, PROTO_T_STRING, 0, "namespace", NULL},
    {2, PROTO_T_STRING, 0, "verb", NULL},
    {3, PROTO_T_STRING, 0, "group", NULL},
    {4, PROTO_T_STRING, 0, "version", NULL},
    {5, PROTO_T_STRING, 0, "resource", NULL},
    {6, PROTO_T_STRING, 0, "subresource", NULL},
    {7, PROTO_T_STRING, 0, "name", NULL},
    {8, PROTO_T_MESSAGE, 0, "fieldSelector", &authorization_v1_FieldSelectorAttributes},
    {9, PROTO_T_MESSAGE, 0, "labelSelector", &authorization_v1_LabelSelectorAttributes},
};
static const struct proto_message authorization_v1_ResourceAttributes = {
    "k8s.io.api.authorization.v1.ResourceAttributes",
    ST_ARRAY_LEN(authorization_v1_ResourceAttributes_fields),
    authorization_v1_ResourceAttributes_fields,
};

static const struct proto_field authorization_v1_FieldSelectorAttributes_fields[] = {
    {1, PROTO_T_STRING, 0, "rawSelector", NULL},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "requirements", &meta_v1_FieldSelectorRequirement},
};
static const struct proto_message authorization_v1_FieldSelectorAttributes = {
    "k8s.io.api.authorization.v1.FieldSelectorAttributes",
    ST_ARRAY_LEN(authorization_v1_FieldSelectorAttributes_fields),
    authorization_v1_FieldSelectorAttributes_fields,
};

static const struct proto_field meta_v1_FieldSelectorRequirement_fields[] = {
    {1, PROTO_T_STRING, 0, "key", NULL},
    {2, PROTO_T_STRING, 0, "operator", NULL},
    {3, PROTO_T_STRING, PROTO_F_REPEATED, "values", NULL},
};
static const struct proto_message meta_v1_FieldSelectorRequirement = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldSelectorRequirement",
    ST_ARRAY_LEN(meta_v1_FieldSelectorRequirement_fields),
    meta_v1_FieldSelectorRequirement_fields,
};

static const struct proto_field authorization_v1_LabelSelectorAttributes_fields[] = {
    {1, PROTO_T_STRING, 0, "rawSelector", NULL},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "requirements", &meta_v1_LabelSelectorRequirement},
};
static const struct proto_message authorization_v1_LabelSelectorAttributes = {
    "k8s.io.api.authorization.v1.LabelSelectorAttributes",
    ST_ARRAY_LEN(authorization_v1_LabelSelectorAttributes_fields),
    authorization_v1_LabelSelectorAttributes_fields,
};

static const struct proto_field authorization_v1_NonResourceAttributes_fields[] = {
    {1, PROTO_T_STRING, 0, "path", NULL},
    {2, PROTO_T_STRING, 0, "verb", NULL},
};
static const struct proto_message authorization_v1_NonResourceAttributes = {
    "k8s.io.api.authorization.v1.NonResourceAttributes",
    ST_ARRAY_LEN(authorization_v1_NonResourceAttributes_fields),
    authorization_v1_NonResourceAttributes_fields,
};

static const struct proto_field authorization_v1_SubjectAccessReviewStatus_fields[] = {
    {1, PROTO_T_BOOL, PROTO_F_KEEP, "allowed", NULL},
    {2, PROTO_T_STRING, 0, "reason", NULL},
    {3, PROTO_T_STRING, 0, "evaluationError", NULL},
    {4, PROTO_T_BOOL, 0, "denied", NULL},
};
static const struct proto_message authorization_v1_SubjectAccessReviewStatus = {
    "k8s.io.api.authorization.v1.SubjectAccessReviewStatus",
    ST_ARRAY_LEN(authorization_v1_SubjectAccessReviewStatus_fields),
    authorization_v1_SubjectAccessReviewStatus_fields,
};

static const struct proto_field authorization_v1_SubjectAccessReview_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &authorization_v1_SubjectAccessReviewSpec},
    {3, PROTO_T_MESSAGE, 0, "status", &authorization_v1_SubjectAccessReviewStatus},
};
static const struct proto_message authorization_v1_SubjectAccessReview = {
    "k8s.io.api.authorization.v1.SubjectAccessReview",
    ST_ARRAY_LEN(authorization_v1_SubjectAccessReview_fields),
    authorization_v1_SubjectAccessReview_fields,
};

static const struct proto_field authorization_v1_SubjectAccessReviewSpec_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "resourceAttributes", &authorization_v1_ResourceAttributes},
    {2, PROTO_T_MESSAGE, 0, "nonResourceAttributes", &authorization_v1_NonResourceAttributes},
    {3, PROTO_T_STRING, 0, "user", NULL},
    {4, PROTO_T_STRING, PROTO_F_REPEATED, "groups", NULL},
    {5, PROTO_T_MAP, 0, "extra", &authorization_v1_SubjectAccessReviewSpec_ExtraEntry},
    {6, PROTO_T_STRING, 0, "uid", NULL},
};
static const struct proto_message authorization_v1_SubjectAccessReviewSpec = {
    "k8s.io.api.authorization.v1.SubjectAccessReviewSpec",
    ST_ARRAY_LEN(authorization_v1_SubjectAccessReviewSpec_fields),
    authorization_v1_SubjectAccessReviewSpec_fields,
};

static const struct proto_field authorization_v1_SubjectAccessReviewSpec_ExtraEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_STRLIST, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message authorization_v1_SubjectAccessReviewSpec_ExtraEntry = {
    "k8s.io.api.authorization.v1.SubjectAccessReviewSpec.ExtraEntry",
    ST_ARRAY_LEN(authorization_v1_SubjectAccessReviewSpec_ExtraEntry_fields),
    authorization_v1_SubjectAccessReviewSpec_ExtraEntry_fields,
};

static const struct proto_field authorization_v1_LocalSubjectAccessReview_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &authorization_v1_SubjectAccessReviewSpec},
    {3, PROTO_T_MESSAGE, 0, "status", &authorization_v1_SubjectAccessReviewStatus},
};
static const struct proto_message authorization_v1_LocalSubjectAccessReview = {
    "k8s.io.api.authorization.v1.LocalSubjectAccessReview",
    ST_ARRAY_LEN(authorization_v1_LocalSubjectAccessReview_fields),
    authorization_v1_LocalSubjectAccessReview_fields,
};

static const struct proto_field authorization_v1_SelfSubjectRulesReview_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &authorization_v1_SelfSubjectRulesReviewSpec},
    {3, PROTO_T_MESSAGE, 0, "status", &authorization_v1_SubjectRulesReviewStatus},
};
static const struct proto_message authorization_v1_SelfSubjectRulesReview = {
    "k8s.io.api.authorization.v1.SelfSubjectRulesReview",
    ST_ARRAY_LEN(authorization_v1_SelfSubjectRulesReview_fields),
    authorization_v1_SelfSubjectRulesReview_fields,
};

static const struct proto_field authorization_v1_SelfSubjectRulesReviewSpec_fields[] = {
    {1, PROTO_T_STRING, 0, "namespace", NULL},
};
static const struct proto_message authorization_v1_SelfSubjectRulesReviewSpec = {
    "k8s.io.api.authorization.v1.SelfSubjectRulesReviewSpec",
    ST_ARRAY_LEN(authorization_v1_SelfSubjectRulesReviewSpec_fields),
    authorization_v1_SelfSubjectRulesReviewSpec_fields,
};

static const struct proto_field authorization_v1_SubjectRulesReviewStatus_fields[] = {
    {1, PROTO_T_MESSAGE, PROTO_F_REPEATED, "resourceRules", &authorization_v1_ResourceRule},
    {2, PROTO_T_MESSAGE, PROTO_F_REPEATED, "nonResourceRules", &authorization_v1_NonResourceRule},
    {3, PROTO_T_BOOL, PROTO_F_KEEP, "incomplete", NULL},
    {4, PROTO_T_STRING, 0, "evaluationError", NULL},
};
static const struct proto_message authorization_v1_SubjectRulesReviewStatus = {
    "k8s.io.api.authorization.v1.SubjectRulesReviewStatus",
    ST_ARRAY_LEN(authorization_v1_SubjectRulesReviewStatus_fields),
    authorization_v1_SubjectRulesReviewStatus_fields,
};

static const struct proto_field authorization_v1_ResourceRule_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "verbs", NULL},
    {2, PROTO_T_STRING, PROTO_F_REPEATED, "apiGroups", NULL},
    {3, PROTO_T_STRING, PROTO_F_REPEATED, "resources", NULL},
    {4, PROTO_T_STRING, PROTO_F_REPEATED, "resourceNames", NULL},
};
static const struct proto_message authorization_v1_ResourceRule = {
    "k8s.io.api.authorization.v1.ResourceRule",
    ST_ARRAY_LEN(authorization_v1_ResourceRule_fields),
    authorization_v1_ResourceRule_fields,
};

static const struct proto_field authorization_v1_NonResourceRule_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "verbs", NULL},
    {2, PROTO_T_STRING, PROTO_F_REPEATED, "nonResourceURLs", NULL},
};
static const struct proto_message authorization_v1_NonResourceRule = {
    "k8s.io.api.authorization.v1.NonResourceRule",
    ST_ARRAY_LEN(authorization_v1_NonResourceRule_fields),
    authorization_v1_NonResourceRule_fields,
};

static const struct proto_field authentication_v1_TokenReview_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &authentication_v1_TokenReviewSpec},
    {3, PROTO_T_MESSAGE, 0, "status", &authentication_v1_TokenReviewStatus},
};
static const struct proto_message authentication_v1_TokenReview = {
    "k8s.io.api.authentication.v1.TokenReview",
    ST_ARRAY_LEN(authentication_v1_TokenReview_fields),
    authentication_v1_TokenReview_fields,
};

static const struct proto_field authentication_v1_TokenReviewSpec_fields[] = {
    {1, PROTO_T_STRING, 0, "token", NULL},
    {2, PROTO_T_STRING, PROTO_F_REPEATED, "audiences", NULL},
};
static const struct proto_message authentication_v1_TokenReviewSpec = {
    "k8s.io.api.authentication.v1.TokenReviewSpec",
    ST_ARRAY_LEN(authentication_v1_TokenReviewSpec_fields),
    authentication_v1_TokenReviewSpec_fields,
};

static const struct proto_field authentication_v1_TokenReviewStatus_fields[] = {
    {1, PROTO_T_BOOL, 0, "authenticated", NULL},
    {2, PROTO_T_MESSAGE, 0, "user", &authentication_v1_UserInfo},
    {3, PROTO_T_STRING, 0, "error", NULL},
    {4, PROTO_T_STRING, PROTO_F_REPEATED, "audiences", NULL},
};
static const struct proto_message authentication_v1_TokenReviewStatus = {
    "k8s.io.api.authentication.v1.TokenReviewStatus",
    ST_ARRAY_LEN(authentication_v1_TokenReviewStatus_fields),
    authentication_v1_TokenReviewStatus_fields,
};

static const struct proto_field authentication_v1_UserInfo_fields[] = {
    {1, PROTO_T_STRING, 0, "username", NULL},
    {2, PROTO_T_STRING, 0, "uid", NULL},
    {3, PROTO_T_STRING, PROTO_F_REPEATED, "groups", NULL},
    {4, PROTO_T_MAP, 0, "extra", &authentication_v1_UserInfo_ExtraEntry},
};
static const struct proto_message authentication_v1_UserInfo = {
    "k8s.io.api.authentication.v1.UserInfo",
    ST_ARRAY_LEN(authentication_v1_UserInfo_fields),
    authentication_v1_UserInfo_fields,
};

static const struct proto_field authentication_v1_UserInfo_ExtraEntry_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_KEEP, "key", NULL},
    {2, PROTO_T_STRLIST, PROTO_F_KEEP, "value", NULL},
};
static const struct proto_message authentication_v1_UserInfo_ExtraEntry = {
    "k8s.io.api.authentication.v1.UserInfo.ExtraEntry",
    ST_ARRAY_LEN(authentication_v1_UserInfo_ExtraEntry_fields),
    authentication_v1_UserInfo_ExtraEntry_fields,
};

static const struct proto_field authentication_v1_TokenRequest_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &authentication_v1_TokenRequestSpec},
    {3, PROTO_T_MESSAGE, 0, "status", &authentication_v1_TokenRequestStatus},
};
static const struct proto_message authentication_v1_TokenRequest = {
    "k8s.io.api.authentication.v1.TokenRequest",
    ST_ARRAY_LEN(authentication_v1_TokenRequest_fields),
    authentication_v1_TokenRequest_fields,
};

static const struct proto_field authentication_v1_TokenRequestSpec_fields[] = {
    {1, PROTO_T_STRING, PROTO_F_REPEATED, "audiences", NULL},
    {3, PROTO_T_MESSAGE, 0, "boundObjectRef", &authentication_v1_BoundObjectReference},
    {4, PROTO_T_INT64, PROTO_F_KEEP, "expirationSeconds", NULL},
};
static const struct proto_message authentication_v1_TokenRequestSpec = {
    "k8s.io.api.authentication.v1.TokenRequestSpec",
    ST_ARRAY_LEN(authentication_v1_TokenRequestSpec_fields),
    authentication_v1_TokenRequestSpec_fields,
};

static const struct proto_field authentication_v1_BoundObjectReference_fields[] = {
    {1, PROTO_T_STRING, 0, "kind", NULL},
    {2, PROTO_T_STRING, 0, "apiVersion", NULL},
    {3, PROTO_T_STRING, 0, "name", NULL},
    {4, PROTO_T_STRING, 0, "uid", NULL},
};
static const struct proto_message authentication_v1_BoundObjectReference = {
    "k8s.io.api.authentication.v1.BoundObjectReference",
    ST_ARRAY_LEN(authentication_v1_BoundObjectReference_fields),
    authentication_v1_BoundObjectReference_fields,
};

static const struct proto_field authentication_v1_TokenRequestStatus_fields[] = {
    {1, PROTO_T_STRING, 0, "token", NULL},
    {2, PROTO_T_TIME, 0, "expirationTimestamp", NULL},
};
static const struct proto_message authentication_v1_TokenRequestStatus = {
    "k8s.io.api.authentication.v1.TokenRequestStatus",
    ST_ARRAY_LEN(authentication_v1_TokenRequestStatus_fields),
    authentication_v1_TokenRequestStatus_fields,
};

static const struct proto_field authentication_v1_SelfSubjectReview_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "status", &authentication_v1_SelfSubjectReviewStatus},
};
static const struct proto_message authentication_v1_SelfSubjectReview = {
    "k8s.io.api.authentication.v1.SelfSubjectReview",
    ST_ARRAY_LEN(authentication_v1_SelfSubjectReview_fields),
    authentication_v1_SelfSubjectReview_fields,
};

static const struct proto_field authentication_v1_SelfSubjectReviewStatus_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "userInfo", &authentication_v1_UserInfo},
};
static const struct proto_message authentication_v1_SelfSubjectReviewStatus = {
    "k8s.io.api.authentication.v1.SelfSubjectReviewStatus",
    ST_ARRAY_LEN(authentication_v1_SelfSubjectReviewStatus_fields),
    authentication_v1_SelfSubjectReviewStatus_fields,
};

static const struct proto_field coordination_v1_Lease_fields[] = {
    {1, PROTO_T_MESSAGE, 0, "metadata", &meta_v1_ObjectMeta},
    {2, PROTO_T_MESSAGE, 0, "spec", &coordination_v1_LeaseSpec},
};
static const struct proto_message coordination_v1_Lease = {
    "k8s.io.api.coordination.v1.Lease",
    ST_ARRAY_LEN(coordination_v1_Lease_fields),
    coordination_v1_Lease_fields,
};

static const struct proto_field coordination_v1_LeaseSpec_fields[] = {
    {1, PROTO_T_STRING, 0, "holderIdentity", NULL},
    {2, PROTO_T_INT32, PROTO_F_KEEP, "leaseDurationSeconds", NULL},
    {3, PROTO_T_MICROTIME, 0, "acquireTime", NULL},
    {4, PROTO_T_MICROTIME, 0, "renewTime", NULL},
    {5, PROTO_T_INT32, PROTO_F_KEEP, "leaseTransitions", NULL},
    {6, PROTO_T_STRING, 0, "strategy", NULL},
    {7, PROTO_T_STRING, 0, "preferredHolder", NULL},
};
static const struct proto_message coordination_v1_LeaseSpec = {
    "k8s.io.api.coordination.v1.LeaseSpec",
    ST_ARRAY_LEN(coordination_v1_LeaseSpec_fields),
    coordination_v1_LeaseSpec_fields,
};

static const struct proto_field meta_v1_DeleteOptions_fields[] = {
    {1, PROTO_T_INT64, PROTO_F_KEEP, "gracePeriodSeconds", NULL},
    {2, PROTO_T_MESSAGE, 0, "preconditions", &meta_v1_Preconditions},
    {3, PROTO_T_BOOL, PROTO_F_KEEP, "orphanDependents", NULL},
    {4, PROTO_T_STRING, 0, "propagationPolicy", NULL},
    {5, PROTO_T_STRING, PROTO_F_REPEATED, "dryRun", NULL},
    {6, PROTO_T_BOOL, 0, "ignoreStoreReadErrorWithClusterBreakingPotential", NULL},
};
static const struct proto_message meta_v1_DeleteOptions = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    ST_ARRAY_LEN(meta_v1_DeleteOptions_fields),
    meta_v1_DeleteOptions_fields,
};

static const struct proto_field meta_v1_Preconditions_fields[] = {
    {1, PROTO_T_STRING, 0, "uid", NULL},
    {2, PROTO_T_STRING, 0, "resourceVersion", NULL},
};
static const struct proto_message meta_v1_Preconditions = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Preconditions",
    ST_ARRAY_LEN(meta_v1_Preconditions_fields),
    meta_v1_Preconditions_fields,
};

const struct proto_kind proto_kinds[] = {
    {"v1", "Namespace", &core_v1_Namespace},
    {"v1", "Service", &core_v1_Service},
    {"v1", "Secret", &core_v1_Secret},
    {"v1", "ConfigMap", &core_v1_ConfigMap},
    {"v1", "ServiceAccount", &core_v1_ServiceAccount},
    {"v1", "Endpoints", &core_v1_Endpoints},
    {"v1", "Event", &core_v1_Event},
    {"apps/v1", "Deployment", &apps_v1_Deployment},
    {"rbac.authorization.k8s.io/v1", "Role", &rbac_v1_Role},
    {"rbac.authorization.k8s.io/v1", "ClusterRole", &rbac_v1_ClusterRole},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", &rbac_v1_RoleBinding},
    {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", &rbac_v1_ClusterRoleBinding},
    {"authorization.k8s.io/v1", "SelfSubjectAccessReview",
     &authorization_v1_SelfSubjectAccessReview},
    {"authorization.k8s.io/v1", "SubjectAccessReview", &authorization_v1_SubjectAccessReview},
    {"authorization.k8s.io/v1", "LocalSubjectAccessReview",
     &authorization_v1_LocalSubjectAccessReview},
    {"authorization.k8s.io/v1", "SelfSubjectRulesReview", &authorization_v1_SelfSubjectRulesReview},
    {"authentication.k8s.io/v1", "TokenReview", &authentication_v1_TokenReview},
    {"authentication.k8s.io/v1", "TokenRequest", &authentication_v1_TokenRequest},
    {"authentication.k8s.io/v1", "SelfSubjectReview", &authentication_v1_SelfSubjectReview},
    {"coordination.k8s.io/v1", "Lease", &coordination_v1_Lease},
    {"meta.k8s.io/v1", "DeleteOptions", &meta_v1_DeleteOptions},
    {"v1", "DeleteOptions", &meta_v1_DeleteOptions},
};
const size_t proto_nkinds = ST_ARRAY_LEN(proto_kinds);
/* clang-format on */
