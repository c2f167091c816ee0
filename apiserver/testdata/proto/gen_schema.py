#!/usr/bin/python3
"""Writes apiserver/proto_schema.c from the protobuf schemas inside kubectl.

Usage: gen_schema.py [PATH_TO_KUBECTL] > apiserver/proto_schema.c

Go's gogo-protobuf code registers each generated.proto as a gzip-compressed
FileDescriptorProto, and those blobs sit in the kubectl binary. This script
finds them, reads the descriptors with a small wire-format reader (no protobuf
library needed), walks the messages reachable from the kinds listed below and
prints one C table per message. Field numbers and types are therefore the ones
kubectl itself uses. Which zero values Kubernetes' JSON keeps (Go pointers and
fields without omitempty) is not in the descriptors: KEEP lists them by hand.
"""
import shutil
import sys
import zlib

TYPES = {3: 'int64', 5: 'int32', 8: 'bool', 9: 'string', 11: 'message', 12: 'bytes',
         1: 'double', 2: 'float', 4: 'uint64', 6: 'fixed64', 7: 'fixed32', 10: 'group',
         13: 'uint32', 14: 'enum', 15: 'sfixed32', 16: 'sfixed64', 17: 'sint32', 18: 'sint64'}


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7f) << s
        s += 7
        if c < 0x80:
            return r, i


def fields(b):
    """Yields (number, value) for each field of a serialized message."""
    i = 0
    while i < len(b):
        k, i = varint(b, i)
        f, w = k >> 3, k & 7
        if w == 0:
            v, i = varint(b, i)
        elif w == 2:
            n, i = varint(b, i)
            v = b[i:i + n]
            i += n
        elif w == 1:
            v, i = b[i:i + 8], i + 8
        elif w == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError('wire type %d' % w)
        yield f, v


def descriptors(path):
    """Returns the FileDescriptorProtos found in the binary at <path>, by file name."""
    data = open(path, 'rb').read()
    found = {}
    i = 0
    while True:
        i = data.find(b'\x1f\x8b\x08\x00', i)
        if i < 0:
            return found
        try:
            out = zlib.decompressobj(16 + 15).decompress(data[i:i + (2 << 20)])
            if out[:1] == b'\x0a' and out[2:2 + out[1]].endswith(b'.proto'):
                found[out[2:2 + out[1]].decode()] = out
        except (zlib.error, IndexError):
            pass
        i += 4


def message(b, prefix, out):
    name, flds, nested, mapentry = None, [], [], False
    for f, v in fields(b):
        if f == 1:
            name = v.decode()
        elif f == 2:  # FieldDescriptorProto
            fd = {}
            for g, x in fields(v):
                if g == 1:
                    fd['name'] = x.decode()
                elif g == 3:
                    fd['num'] = x
                elif g == 4:
                    fd['label'] = x
                elif g == 5:
                    fd['type'] = TYPES[x]
                elif g == 6:
                    fd['type_name'] = x.decode()
            flds.append(fd)
        elif f == 3:
            nested.append(v)
        elif f == 7:  # MessageOptions.map_entry
            mapentry = any(g == 7 and x for g, x in fields(v))
    full = prefix + '.' + name
    out[full] = {'fields': flds, 'map': mapentry}
    for n in nested:
        message(n, full, out)


def load(path):
    out = {}
    for b in descriptors(path).values():
        pkg = ''.join(v.decode() for f, v in fields(b) if f == 2)
        for f, v in fields(b):
            if f == 4:
                message(v, '.' + pkg, out)
    return out


KUBECTL = sys.argv[1] if len(sys.argv) > 1 else shutil.which('kubectl')
M = load(KUBECTL)

KINDS = [
    ('v1', 'core.v1', ['Namespace', 'Service', 'Secret', 'ConfigMap', 'ServiceAccount',
                       'Endpoints', 'Event']),
    ('apps/v1', 'apps.v1', ['Deployment']),
    ('rbac.authorization.k8s.io/v1', 'rbac.v1',
     ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']),
    ('authorization.k8s.io/v1', 'authorization.v1',
     ['SelfSubjectAccessReview', 'SubjectAccessReview', 'LocalSubjectAccessReview',
      'SelfSubjectRulesReview']),
    ('authentication.k8s.io/v1', 'authentication.v1',
     ['TokenReview', 'TokenRequest', 'SelfSubjectReview']),
    ('coordination.k8s.io/v1', 'coordination.v1', ['Lease']),
]
META = '.k8s.io.apimachinery.pkg.apis.meta.v1.'
EXTRA_KINDS = [('meta.k8s.io/v1', META + 'DeleteOptions'), ('v1', META + 'DeleteOptions')]
SPECIAL = {
    META + 'Time': 'TIME', META + 'MicroTime': 'MICROTIME', META + 'FieldsV1': 'RAWJSON',
    '.k8s.io.apimachinery.pkg.util.intstr.IntOrString': 'INTORSTR',
    '.k8s.io.apimachinery.pkg.api.resource.Quantity': 'QUANTITY',
    '.k8s.io.api.authorization.v1.ExtraValue': 'STRLIST',
    '.k8s.io.api.authentication.v1.ExtraValue': 'STRLIST',
}
# Go pointer fields and fields without omitempty: a zero value present on the
# wire is kept in the JSON (see docs/apiserver-protobuf.md).
KEEP = set('''
ObjectMeta.deletionGracePeriodSeconds OwnerReference.controller OwnerReference.blockOwnerDeletion
ServiceSpec.allocateLoadBalancerNodePorts ServicePort.port ClientIPConfig.timeoutSeconds
PortStatus.port Secret.immutable ConfigMap.immutable ServiceAccount.automountServiceAccountToken
EndpointPort.port DeploymentSpec.replicas DeploymentSpec.revisionHistoryLimit
DeploymentSpec.progressDeadlineSeconds PodSpec.terminationGracePeriodSeconds
PodSpec.activeDeadlineSeconds PodSpec.automountServiceAccountToken PodSpec.shareProcessNamespace
PodSpec.priority PodSpec.enableServiceLinks PodSpec.setHostnameAsFQDN PodSpec.hostUsers
SecretVolumeSource.defaultMode SecretVolumeSource.optional KeyToPath.mode
DownwardAPIVolumeSource.defaultMode DownwardAPIVolumeFile.mode ConfigMapVolumeSource.defaultMode
ConfigMapVolumeSource.optional ProjectedVolumeSource.defaultMode SecretProjection.optional
ConfigMapProjection.optional ServiceAccountTokenProjection.expirationSeconds
ClusterTrustBundleProjection.optional FCVolumeSource.lun AzureDiskVolumeSource.readOnly
CSIVolumeSource.readOnly ConfigMapEnvSource.optional SecretEnvSource.optional
ConfigMapKeySelector.optional SecretKeySelector.optional ContainerPort.containerPort
Probe.terminationGracePeriodSeconds GRPCAction.port SleepAction.seconds
SecurityContext.privileged SecurityContext.runAsUser SecurityContext.runAsGroup
SecurityContext.runAsNonRoot SecurityContext.readOnlyRootFilesystem
SecurityContext.allowPrivilegeEscalation WindowsSecurityContextOptions.hostProcess
PodSecurityContext.runAsUser PodSecurityContext.runAsGroup PodSecurityContext.runAsNonRoot
PodSecurityContext.fsGroup PreferredSchedulingTerm.weight WeightedPodAffinityTerm.weight
Toleration.tolerationSeconds TopologySpreadConstraint.maxSkew TopologySpreadConstraint.minDomains
DeploymentStatus.collisionCount SubjectAccessReviewStatus.allowed
SubjectRulesReviewStatus.incomplete TokenRequestSpec.expirationSeconds
LeaseSpec.leaseDurationSeconds LeaseSpec.leaseTransitions DeleteOptions.gracePeriodSeconds
DeleteOptions.orphanDependents
'''.split())
# Go embedded structs (json:",inline"): their fields land in the parent object.
INLINE = set('''
Volume.volumeSource Probe.handler EphemeralContainer.ephemeralContainerCommon
ConfigMapVolumeSource.localObjectReference SecretProjection.localObjectReference
ConfigMapProjection.localObjectReference ConfigMapEnvSource.localObjectReference
SecretEnvSource.localObjectReference ConfigMapKeySelector.localObjectReference
SecretKeySelector.localObjectReference
'''.split())
# Fields whose protobuf name is not their JSON name.
RENAME = {'BoundObjectReference.uID': 'uid'}
SCALAR = {'string': 'STRING', 'bytes': 'BYTES', 'bool': 'BOOL', 'int32': 'INT32',
          'int64': 'INT64'}


def cname(full):
    parts = full.lstrip('.').split('.')
    if full.startswith(META):
        return 'meta_v1_' + '_'.join(parts[7:])
    # k8s.io.api.<group>.<version>.<Message>[.<Nested>]
    return '_'.join(parts[3:])


order = []


def walk(full):
    if full in order or full in SPECIAL:
        return
    order.append(full)
    for f in M[full]['fields']:
        if f['type'] == 'message':
            walk(f['type_name'])


roots = []
for av, pkg, kinds in KINDS:
    for k in kinds:
        roots.append((av, k, '.k8s.io.api.%s.%s' % (pkg, k)))
for av, full in EXTRA_KINDS:
    roots.append((av, full.rsplit('.', 1)[1], full))
for _, _, full in roots:
    walk(full)

out = []
w = out.append
w('/*')
w(' * Field tables for the Kubernetes protobuf messages strait-apiserver decodes.')
w(' *')
w(' * The field numbers, names and types are the ones kubectl v1.32.4 itself')
w(' * carries (the FileDescriptorProtos its k8s.io/api and k8s.io/apimachinery')
w(' * packages register); apiserver/testdata/proto/gen_schema.py wrote this file')
w(' * from them. What the descriptors do not say is kept in that script by hand:')
w(' * PROTO_F_KEEP (Go pointer fields and fields without omitempty), PROTO_F_INLINE')
w(' * (embedded structs) and JSON names that differ. Regenerate rather than edit.')
w(' */')
w('#include "proto.h"')
w('')
w('/* One field per line reads better than the rows clang-format would pack. */')
w('/* clang-format off */')
for full in order:
    w('static const struct proto_message %s;' % cname(full))
w('')
used_keep = set()
for full in order:
    m = M[full]
    short = full.rsplit('.', 1)[1]
    fields = sorted(m['fields'], key=lambda f: f['num'])
    w('static const struct proto_field %s_fields[] = {' % cname(full))
    for f in fields:
        flags = []
        if f.get('label') == 3:
            flags.append('PROTO_F_REPEATED')
        key = '%s.%s' % (short, f['name'])
        if key in KEEP or m['map']:
            flags.append('PROTO_F_KEEP')
            used_keep.add(key)
        if key in INLINE:
            flags.append('PROTO_F_INLINE')
            used_keep.add(key)
        json_name = RENAME.get(key, f['name'])
        if key in RENAME:
            used_keep.add(key)
        ref = 'NULL'
        if f['type'] == 'message':
            tn = f['type_name']
            if tn in SPECIAL:
                typ = SPECIAL[tn]
            elif M[tn]['map']:
                typ, ref = 'MAP', '&' + cname(tn)
                flags.remove('PROTO_F_REPEATED')
            else:
                typ, ref = 'MESSAGE', '&' + cname(tn)
        else:
            typ = SCALAR[f['type']]
        line = '    {%d, PROTO_T_%s, %s, "%s", %s},' % (
            f['num'], typ, ' | '.join(flags) or '0', json_name, ref)
        if len(line) > 100:
            line = '    {%d, PROTO_T_%s, %s,\n     "%s", %s},' % (
                f['num'], typ, ' | '.join(flags) or '0', json_name, ref)
        w(line)
    w('};')
    w('static const struct proto_message %s = {' % cname(full))
    w('    "%s",' % full.lstrip('.'))
    w('    ST_ARRAY_LEN(%s_fields),' % cname(full))
    w('    %s_fields,' % cname(full))
    w('};')
    w('')
missing = (KEEP | INLINE | set(RENAME)) - used_keep
if missing:
    sys.exit('KEEP entries not found: %s' % sorted(missing))
w('const struct proto_kind proto_kinds[] = {')
for av, k, full in roots:
    line = '    {"%s", "%s", &%s},' % (av, k, cname(full))
    if len(line) > 100:
        line = '    {"%s", "%s",\n     &%s},' % (av, k, cname(full))
    w(line)
w('};')
w('const size_t proto_nkinds = ST_ARRAY_LEN(proto_kinds);')
w('/* clang-format on */')
sys.stdout.write('\n'.join(out) + '\n')
print('%d messages' % len(order), file=sys.stderr)
