/*
 * Local clusters (docs/local-clusters.md): the shared helpers of `strait
 * cluster`, `run`, `exec`, `workloads`, `stop` and `check`. $STRAIT_HOME and
 * cluster.json, loopback addresses, locks, pid files, starting and stopping
 * processes, readiness waits with timeouts, service-account tokens for the
 * proxies, and the cluster's kube client.
 *
 * Everything here returns 0 / a count on success and a negative errno or
 * ST_E* code with a one-line message in <err> on failure; nothing prints.
 */
#ifndef STRAIT_CLI_LOCAL_H
#define STRAIT_CLI_LOCAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "strait/core.h"
#include "strait/kube.h"

#define LOCAL_NUMBER_MAX 254
#define LOCAL_TRUST_DOMAIN "cluster.local"
#define LOCAL_CLUSTER_DOMAIN "cluster.local"
#define LOCAL_NS "strait"             /* the control plane namespace */
#define LOCAL_STATE_MAX (256u * 1024) /* bytes of cluster.json or a workload file */
#define LOCAL_LOCK_TIMEOUT_MS 30000
#define LOCAL_STOP_TIMEOUT_MS 10000 /* SIGTERM, then SIGKILL after this */
#define LOCAL_READY_TIMEOUT_MS 30000
#define LOCAL_APP_MAX_WORKLOADS 32512 /* 127.N.1.1 .. 127.N.127.254 */
#define LOCAL_TOKEN_WAIT_MS 10000     /* for the apiserver to fill in a token Secret */
#define LOCAL_TOKEN_MAX (16u * 1024)  /* bytes of a token (the identity API's cap) */
#define LOCAL_SA_NAME_MAX 200         /* so that "<sa>-token" is a valid Secret name */

/* One local cluster, as cluster.json holds it. Strings owned. */
struct local_cluster {
    char *name;
    int number; /* 1..254: owns 127.N.0.0/16 */
    char *home; /* absolute $STRAIT_HOME */
    char *dir;  /* home/clusters/NAME */
    char *anchor_cert;
    char *anchor_key; /* NULL when the anchor's key was not given (no issuer renewal) */
    char *created;    /* RFC 3339 */
};

/*
 * Sets <err> (may be NULL) to "<formatted>: <its previous message>" and
 * returns <code>, for adding context to an error a callee reported.
 */
int local_err_wrap(struct st_err *err, int code, const char *fmt, ...) ST_PRINTF(3, 4);

/* Returns $STRAIT_HOME (default ./.strait) as a new absolute path. */
char *local_home(void);

/* True for a cluster, workload or namespace name: a DNS-1123 label. */
bool local_name_ok(const char *name);

/* Returns a new "<base>/<formatted>" path. */
char *local_path(const char *base, const char *fmt, ...) ST_PRINTF(2, 3);

/* Formats "127.<number>.<a>.<b>" into <out>. */
void local_addr(int number, int a, int b, char out[16]);

/*
 * Loads clusters/<name>/cluster.json under <home> into <out> (free with
 * local_cluster_free). ST_ENOTFOUND when there is no such cluster.
 */
int local_cluster_load(const char *home, const char *name, struct local_cluster *out,
                       struct st_err *err);
/* Writes cluster.json of <c> atomically (mode 0644). */
int local_cluster_save(const struct local_cluster *c, struct st_err *err);
void local_cluster_free(struct local_cluster *c);

/*
 * Lists the names of the clusters under <home> (sorted) into a new JSON
 * array of strings in <*out>.
 */
int local_cluster_names(const char *home, json_t **out, struct st_err *err);

/*
 * Resolves the cluster a command works on: <context> (the global --context)
 * or else the current-context of $STRAIT_HOME/kubeconfig. Usage problems
 * (no context) are ST_EINVAL, an unknown cluster ST_ENOTFOUND.
 */
int local_cluster_for_context(const char *context, struct local_cluster *out, struct st_err *err);

/*
 * Takes an exclusive flock on <path> (created 0600), waiting at most
 * <timeout_ms>. Returns the descriptor to pass to local_unlock, or ST_ETIMEOUT.
 */
int local_lock(const char *path, uint64_t timeout_ms, struct st_err *err);
/*
 * The machine-wide lock of local cluster numbers (127.N.0.0/16 belongs to the
 * machine, not to one $STRAIT_HOME): held by `cluster create` from picking a
 * number until its servers listen, so two creates (of any homes) never pick
 * the same one. Same contract as local_lock.
 */
int local_machine_lock(uint64_t timeout_ms, struct st_err *err);
void local_unlock(int fd);

/* A process we started, identified by pid and kernel start time (no pid reuse). */
struct local_proc {
    pid_t pid;
    uint64_t start; /* /proc/PID/stat starttime, clock ticks since boot */
};

/* Reads the start time of <pid>; -ESRCH when it does not exist. */
int local_proc_start_time(pid_t pid, uint64_t *out);
/* Fills <p> for <pid> now. */
int local_proc_of(pid_t pid, struct local_proc *p);
/* True when that very process still runs (not a zombie, not a reused pid). */
bool local_proc_alive(const struct local_proc *p);
/*
 * Stops <p>: SIGTERM to it (to its process group when it leads one), then
 * SIGKILL after <timeout_ms>. Returns 1 when it was running, 0 when not.
 * Direct children are reaped.
 */
int local_proc_stop(const struct local_proc *p, uint64_t timeout_ms);

/* Pid files hold "PID STARTTIME\n". */
int local_pidfile_write(const char *path, const struct local_proc *p, struct st_err *err);
int local_pidfile_read(const char *path, struct local_proc *out);

/*
 * Starts <argv> (argv[0] a path) with <env> added to our environment
 * (NULL-terminated "K=V" strings, may be NULL), stdin from /dev/null unless
 * <keep_stdio>, stdout and stderr appended to <log_path> (when not NULL).
 * <daemon>: a new session, re-parented to init (double fork), so that it
 * outlives us; otherwise a child, in its own process group unless
 * <keep_stdio> (a foreground command stays in our group, so that the
 * terminal's signals and reads reach it). Fails when exec fails. Stores the
 * process in <*out>.
 */
int local_spawn(char *const argv[], char *const env[], const char *log_path, bool daemon,
                bool keep_stdio, struct local_proc *out, struct st_err *err);

/* Returns a new path of the binary <name> beside the running strait. */
char *local_bin(const char *name);

/* GET <url> (plain HTTP); returns the status (> 0) or a negative code. */
int local_http_status(const char *url, long timeout_ms);

/*
 * Polls <url> until it answers 200, <p> (may be NULL) dies, or <timeout_ms>
 * pass. 0, -ESRCH (died) or ST_ETIMEOUT.
 */
int local_wait_http(const char *url, const struct local_proc *p, uint64_t timeout_ms,
                    struct st_err *err);

/* Waits until <addr:port> accepts TCP connections; 0, -ESRCH or ST_ETIMEOUT. */
int local_wait_tcp(const char *addr, int port, const struct local_proc *p, uint64_t timeout_ms);

/* True when <addr:port> can be bound right now (nobody listens there). */
bool local_port_free(const char *addr, int port);

/*
 * A kube client for context <c->name> of $STRAIT_HOME/kubeconfig, with
 * short timeouts (connect 2 s, request <total_ms>). Returns a new client or
 * NULL with <err>.
 */
struct st_kube_client *local_kube_client(const struct local_cluster *c, uint64_t total_ms,
                                         struct st_err *err);

/*
 * Service-account tokens for the proxies of a local cluster. A proxy
 * certifies against the controller (POST /v1/certify) with the token of its
 * workload's ServiceAccount, as a pod would with its mounted token; the CLI
 * issues no workload certificate itself.
 *
 * local_sa_token: makes sure ServiceAccount <sa> of <ns> exists (created
 * when missing, as Kubernetes makes "default" in each namespace) and that
 * Secret <secret> of <ns> is its token Secret (type
 * kubernetes.io/service-account-token, annotation
 * kubernetes.io/service-account.name; created when missing, and the
 * apiserver fills in the token), and stores the decoded token in <out>
 * (borrowed; the caller wipes it). A Secret of that name that is not the
 * account's token is ST_ECONFLICT; a token that does not appear within
 * LOCAL_TOKEN_WAIT_MS is ST_ETIMEOUT.
 */
int local_sa_token(struct st_kube_client *k, const char *ns, const char *sa, const char *secret,
                   struct st_buf *out, struct st_err *err);
/*
 * The same for a workload: Secret local_token_secret_name(<sa>), the token
 * written to <dir>/token (mode 0600; <dir> created 0700) for the proxy's
 * --token-file.
 */
int local_workload_token(struct st_kube_client *k, const char *ns, const char *sa, const char *dir,
                         struct st_err *err);
/* Returns the name of <sa>'s token Secret, "<sa>-token" (new). */
char *local_token_secret_name(const char *sa);

/* Returns the identity name "<sa>.<ns>.serviceaccount.identity.strait.<td>" (new). */
char *local_identity_name(const char *ns, const char *sa);

/* Reads a JSON state file (capped) into a new reference; NULL with <err>. */
json_t *local_json_read(const char *path, struct st_err *err);
/* Writes <v> to <path> atomically with <mode>. */
int local_json_write(const char *path, const json_t *v, unsigned mode, struct st_err *err);

/*
 * Rewrites the cluster's routes file (clusters/NAME/routes.json, read by
 * every proxy of the cluster) from the running workloads: each ADDR:PORT of
 * a workload routes to ADDR:4143 with its identity. Call under the
 * workloads lock. Services and TrafficSplits come from the controller's
 * destination API (every proxy runs with --destination); this file only
 * covers calls to a workload's own address, which the API does not resolve.
 */
int local_routes_write(const struct local_cluster *c, struct st_err *err);

/*
 * Lists the workload state files of the cluster (all namespaces when <ns> is
 * NULL) into a new array of objects, each with "file" added. Entries whose
 * supervising process died are removed from disk (and left out) when
 * <prune> is set.
 */
int local_workloads(const struct local_cluster *c, const char *ns, bool prune, json_t **out,
                    struct st_err *err);

/* Removes <path> and everything under it (no symlinks followed). */
int local_rm_rf(const char *path);

/* ---- install.c: the control plane manifests ------------------------------------ */

/* The identity material put into the manifests: PEM text, owned, wiped when freed. */
struct install_identity {
    char *anchors;    /* trust anchor bundle */
    char *issuer_crt; /* issuer certificate (then optional intermediates) */
    char *issuer_key; /* issuer private key */
};

/*
 * Reads and checks anchor, issuer and key files: the key matches the issuer,
 * the issuer is a CA that chains to the anchors and has not expired.
 */
int install_identity_load(const char *anchor, const char *issuer_crt, const char *issuer_key,
                          struct install_identity *out, struct st_err *err);
/* Makes a fresh anchor (10 years) and issuer (1 year) in memory. */
int install_identity_generate(struct install_identity *out, struct st_err *err);
void install_identity_free(struct install_identity *id);

/*
 * The objects `strait install` prints, in apply order (Namespace, CRDs,
 * RBAC, identity Secret and ConfigMap, Service, Deployment), as a new JSON
 * array. <id> is borrowed; <ha> sets three replicas and anti-affinity.
 */
int install_objects(const struct install_identity *id, bool ha, json_t **out, struct st_err *err);

#endif
