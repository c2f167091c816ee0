/*
 * Local clusters: state files, addresses, locks, processes and readiness
 * (see local.h and docs/local-clusters.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "local.h"
#include "strait/json.h"

extern char **environ;

#define LOCAL_POLL_MS 50

static void
local_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int
local_err_wrap(struct st_err *err, int code, const char *fmt, ...)
{
    char prev[sizeof(err->msg)], head[sizeof(err->msg)];
    va_list ap;

    if (err == NULL)
        return code;
    st_strlcpy(prev, err->msg, sizeof(prev));
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    return st_err_set(err, code, "%s: %s", head, prev);
}

char *
local_home(void)
{
    const char *h = getenv("STRAIT_HOME");
    char cwd[PATH_MAX];

    if (h == NULL || h[0] == '\0')
        h = ".strait";
    if (h[0] == '/')
        return st_xstrdup(h);
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return st_xstrdup(h);
    if (strncmp(h, "./", 2) == 0)
        h += 2;
    return st_xasprintf("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, h);
}

bool
local_name_ok(const char *name)
{
    return name != NULL && st_dns1123_label(name);
}

char *
local_path(const char *base, const char *fmt, ...)
{
    va_list ap;
    struct st_buf b = ST_BUF_INIT(0);

    if (st_buf_appendf(&b, "%s/", base) < 0)
        st_oom();
    va_start(ap, fmt);
    if (st_buf_vappendf(&b, fmt, ap) < 0)
        st_oom();
    va_end(ap);
    return st_buf_steal(&b);
}

void
local_addr(int number, int a, int b, char out[16])
{
    snprintf(out, 16, "127.%d.%d.%d", number & 255, a & 255, b & 255);
}

/* ---- JSON state files ---------------------------------------------------- */

json_t *
local_json_read(const char *path, struct st_err *err)
{
    struct st_buf b = ST_BUF_INIT(LOCAL_STATE_MAX);
    json_t *v;
    int rc = st_file_read(path, &b);

    if (rc < 0) {
        st_err_set(err, rc, "cannot read %s: %s", path, st_strerror(rc));
        st_buf_free(&b);
        return NULL;
    }
    v = st_json_load(b.data != NULL ? b.data : "", b.len, 0, err);
    st_buf_free(&b);
    if (v == NULL)
        return NULL;
    if (!json_is_object(v)) {
        json_decref(v);
        st_err_set(err, ST_EPARSE, "%s: not a JSON object", path);
        return NULL;
    }
    return v;
}

int
local_json_write(const char *path, const json_t *v, unsigned mode, struct st_err *err)
{
    struct st_buf b = ST_BUF_INIT(LOCAL_STATE_MAX);
    int rc = st_json_dump(v, &b, ST_JSON_PRETTY | ST_JSON_NEWLINE);

    if (rc == 0)
        rc = st_file_write_atomic(path, b.data, b.len, mode);
    if (rc < 0)
        st_err_set(err, rc, "cannot write %s: %s", path, st_strerror(rc));
    st_buf_free(&b);
    return rc;
}

/* ---- clusters --------------------------------------------------------------- */

void
local_cluster_free(struct local_cluster *c)
{
    free(c->name);
    free(c->home);
    free(c->dir);
    free(c->anchor_cert);
    free(c->anchor_key);
    free(c->created);
    memset(c, 0, sizeof(*c));
}

int
local_cluster_load(const char *home, const char *name, struct local_cluster *out,
                   struct st_err *err)
{
    char *dir = NULL, *file = NULL;
    json_t *v = NULL;
    int64_t number;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!local_name_ok(name))
        return st_err_set(err, ST_EINVAL, "\"%s\" is not a valid cluster name", name);
    dir = local_path(home, "clusters/%s", name);
    file = local_path(dir, "cluster.json");
    if (access(file, F_OK) < 0) {
        rc = st_err_set(err, ST_ENOTFOUND, "no local cluster \"%s\" under %s", name, home);
        goto out;
    }
    if ((v = local_json_read(file, err)) == NULL) {
        rc = err != NULL ? err->code : ST_EPARSE;
        goto out;
    }
    number = st_json_int_or(v, "number", 0);
    const char *nm = st_json_str(v, "name");
    if (number < 1 || number > LOCAL_NUMBER_MAX || nm == NULL || strcmp(nm, name) != 0) {
        rc = st_err_set(err, ST_EPARSE, "%s: bad \"name\" or \"number\"", file);
        goto out;
    }
    out->name = st_xstrdup(name);
    out->number = (int)number;
    out->home = st_xstrdup(home);
    out->dir = dir;
    dir = NULL;
    const char *ac = st_json_str(v, "trustAnchor.cert"), *ak = st_json_str(v, "trustAnchor.key");
    out->anchor_cert = ac != NULL ? st_xstrdup(ac) : local_path(home, "trust/anchor.crt");
    out->anchor_key = ak != NULL ? st_xstrdup(ak) : NULL;
    const char *cr = st_json_str(v, "created");
    out->created = st_xstrdup(cr != NULL ? cr : "");
out:
    json_decref(v);
    free(dir);
    free(file);
    return rc;
}

int
local_cluster_save(const struct local_cluster *c, struct st_err *err)
{
    char *file = local_path(c->dir, "cluster.json");
    json_t *anchor = json_pack("{s:s}", "cert", c->anchor_cert);
    int rc;

    if (c->anchor_key != NULL)
        json_object_set_new(anchor, "key", json_string(c->anchor_key));
    json_t *v = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o}", "name", c->name, "number", c->number,
                          "trustDomain", LOCAL_TRUST_DOMAIN, "clusterDomain", LOCAL_CLUSTER_DOMAIN,
                          "created", c->created, "trustAnchor", anchor);
    rc = local_json_write(file, v, 0644, err);
    json_decref(v);
    free(file);
    return rc;
}

static int
local_strcmp_json(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

int
local_cluster_names(const char *home, json_t **out, struct st_err *err)
{
    char *dir = local_path(home, "clusters");
    DIR *d = opendir(dir);
    json_t *names = json_array();
    struct dirent *e;

    *out = names;
    if (d == NULL) {
        int rc = errno == ENOENT ? 0 : st_err_set(err, -errno, "cannot list %s", dir);
        free(dir);
        return rc;
    }
    while ((e = readdir(d)) != NULL) {
        if (!local_name_ok(e->d_name))
            continue;
        char *f = local_path(dir, "%s/cluster.json", e->d_name);
        if (access(f, F_OK) == 0)
            json_array_append_new(names, json_string(e->d_name));
        free(f);
    }
    closedir(d);
    free(dir);
    /* Sort through a plain array of the (borrowed) elements. */
    size_t n = json_array_size(names);
    json_t **v = st_xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(names, i));
    qsort(v, n, sizeof(*v), local_strcmp_json);
    json_array_clear(names);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(names, v[i]);
    free(v);
    return 0;
}

int
local_cluster_for_context(const char *context, struct local_cluster *out, struct st_err *err)
{
    char *home = local_home();
    json_t *kc = NULL;
    char *cur = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (context == NULL) {
        char *path = local_path(home, "kubeconfig");
        struct st_buf b = ST_BUF_INIT(LOCAL_STATE_MAX * 4);
        if (st_file_read(path, &b) == 0)
            kc = st_yaml_load(st_buf_cstr(&b), b.len, NULL, NULL);
        st_buf_free_secret(&b);
        free(path);
        const char *c = st_json_str(kc, "current-context");
        if (c != NULL && c[0] != '\0')
            cur = st_xstrdup(c);
        json_decref(kc);
        if (cur == NULL) {
            free(home);
            return st_err_set(err, ST_EINVAL, "no cluster given: use strait --context NAME");
        }
        context = cur;
    }
    rc = local_cluster_load(home, context, out, err);
    if (rc == ST_ENOTFOUND)
        st_err_set(err, rc, "unknown cluster \"%s\" (see strait cluster list)", context);
    free(cur);
    free(home);
    return rc;
}

/* ---- locks ------------------------------------------------------------------ */

/* Takes the exclusive flock of the open file <fd> within <timeout_ms>; closes <fd> on failure. */
static int
local_flock(int fd, const char *path, uint64_t timeout_ms, struct st_err *err)
{
    uint64_t deadline = st_now_ms() + timeout_ms;

    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int rc = -errno;
            close(fd);
            return st_err_set(err, rc, "cannot lock %s: %s", path, st_strerror(rc));
        }
        if (st_now_ms() >= deadline) {
            close(fd);
            return st_err_set(err, ST_ETIMEOUT, "%s is locked by another strait command", path);
        }
        local_sleep_ms(LOCAL_POLL_MS);
    }
}

int
local_lock(const char *path, uint64_t timeout_ms, struct st_err *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0)
        return st_err_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
    return local_flock(fd, path, timeout_ms, err);
}

int
local_machine_lock(uint64_t timeout_ms, struct st_err *err)
{
    struct stat st;
    const char *dir = "/tmp";
    char path[64];
    int fd;

    if (stat("/run/lock", &st) == 0 && S_ISDIR(st.st_mode) && access("/run/lock", W_OK) == 0)
        dir = "/run/lock";
    snprintf(path, sizeof(path), "%s/strait-local-clusters.lock", dir);
    /* Shared by every user of the machine: readable by all; a read-only descriptor locks too. */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno == EACCES)
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return st_err_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
    return local_flock(fd, path, timeout_ms, err);
}

void
local_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* ---- processes ------------------------------------------------------------- */

/* Reads state and start time from /proc/PID/stat. */
static int
local_proc_stat(pid_t pid, char *state, uint64_t *start)
{
    char path[64], buf[1024];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -ESRCH;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ')
        return ST_EPARSE;
    p += 2;
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return ST_EPARSE;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return 0;
}

int
local_proc_start_time(pid_t pid, uint64_t *out)
{
    char state;
    return local_proc_stat(pid, &state, out);
}

int
local_proc_of(pid_t pid, struct local_proc *p)
{
    p->pid = pid;
    return local_proc_start_time(pid, &p->start);
}

bool
local_proc_alive(const struct local_proc *p)
{
    char state;
    uint64_t start;

    if (p == NULL || p->pid <= 0)
        return false;
    /* A zombie (our own child that exited, not yet reaped) counts as dead. */
    if (local_proc_stat(p->pid, &state, &start) < 0)
        return false;
    return start == p->start && state != 'Z' && state != 'X';
}

int
local_proc_stop(const struct local_proc *p, uint64_t timeout_ms)
{
    if (!local_proc_alive(p))
        return 0;
    bool leader = getpgid(p->pid) == p->pid;
    pid_t target = leader ? -p->pid : p->pid;
    uint64_t deadline = st_now_ms() + timeout_ms;

    kill(target, SIGTERM);
    while (local_proc_alive(p) && st_now_ms() < deadline)
        local_sleep_ms(20);
    if (local_proc_alive(p)) {
        kill(target, SIGKILL);
        deadline = st_now_ms() + 5000;
        while (local_proc_alive(p) && st_now_ms() < deadline)
            local_sleep_ms(20);
    }
    /* What the leader left behind in its group does not outlive it. */
    if (leader)
        kill(-p->pid, SIGKILL);
    waitpid(p->pid, NULL, WNOHANG); /* reaps it when it is our child */
    return 1;
}

int
local_pidfile_write(const char *path, const struct local_proc *p, struct st_err *err)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "%d %llu\n", (int)p->pid, (unsigned long long)p->start);
    int rc = st_file_write_atomic(path, line, (size_t)n, 0644);

    if (rc < 0)
        st_err_set(err, rc, "cannot write %s: %s", path, st_strerror(rc));
    return rc;
}

int
local_pidfile_read(const char *path, struct local_proc *out)
{
    struct st_buf b = ST_BUF_INIT(128);
    unsigned long long start;
    int pid, rc;

    memset(out, 0, sizeof(*out));
    if ((rc = st_file_read(path, &b)) < 0) {
        st_buf_free(&b);
        return rc;
    }
    rc = sscanf(st_buf_cstr(&b), "%d %llu", &pid, &start) == 2 && pid > 0 ? 0 : ST_EPARSE;
    st_buf_free(&b);
    if (rc == 0) {
        out->pid = pid;
        out->start = start;
    }
    return rc;
}

/* Builds environ plus <add> (whose keys replace the inherited ones); a new array of borrowed
 * strings. */
static char **
local_envp(char *const add[])
{
    size_t n = 0, na = 0, k = 0;

    while (environ[n] != NULL)
        n++;
    while (add != NULL && add[na] != NULL)
        na++;
    char **envp = st_xcalloc(n + na + 1, sizeof(*envp));
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq != NULL ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < na && !replaced; j++)
            replaced = strncmp(add[j], environ[i], klen) == 0 && add[j][klen] == '=';
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < na; j++)
        envp[k++] = add[j];
    envp[k] = NULL;
    return envp;
}

/* In the child: set up stdio, signals and exec; reports errno on <errfd> if exec fails. */
ST_NORETURN static void
local_child_exec(char *const argv[], char **envp, int logfd, int nullfd, bool keep_stdio, int errfd)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    if (!keep_stdio && nullfd >= 0)
        dup2(nullfd, STDIN_FILENO);
    if (logfd >= 0) {
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
    }
    execvpe(argv[0], argv, envp);
    int e = errno;
    (void)!write(errfd, &e, sizeof(e));
    _exit(127);
}

int
local_spawn(char *const argv[], char *const env[], const char *log_path, bool daemon,
            bool keep_stdio, struct local_proc *out, struct st_err *err)
{
    int errp[2] = {-1, -1}, pidp[2] = {-1, -1};
    int logfd = -1, nullfd = -1, rc = 0, e = 0;
    char **envp = local_envp(env);
    pid_t pid, gpid = 0;

    memset(out, 0, sizeof(*out));
    if (log_path != NULL &&
        (logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) {
        rc = st_err_set(err, -errno, "cannot open %s: %s", log_path, strerror(errno));
        goto out;
    }
    nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(pidp, O_CLOEXEC) < 0) {
        rc = st_err_set(err, -errno, "pipe: %s", strerror(errno));
        goto out;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        rc = st_err_set(err, -errno, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        close(errp[0]);
        close(pidp[0]);
        if (daemon) {
            setsid();
            pid_t g = fork();
            if (g != 0) {
                (void)!write(pidp[1], &g, sizeof(g));
                _exit(g > 0 ? 0 : 127);
            }
        } else if (!keep_stdio) {
            setpgid(0, 0);
        }
        local_child_exec(argv, envp, logfd, nullfd, keep_stdio, errp[1]);
    }
    close(errp[1]);
    errp[1] = -1;
    close(pidp[1]);
    pidp[1] = -1;
    if (daemon) {
        ssize_t n = read(pidp[0], &gpid, sizeof(gpid));
        waitpid(pid, NULL, 0);
        if (n != (ssize_t)sizeof(gpid) || gpid <= 0) {
            rc = st_err_set(err, -ECHILD, "cannot start %s", argv[0]);
            goto out;
        }
        pid = gpid;
    } else if (!keep_stdio) {
        setpgid(pid, pid); /* also here, so that it holds before we signal the group */
    }
    /* The start time is read before exec may fail, while the process surely exists. */
    local_proc_of(pid, out);
    ssize_t n;
    while ((n = read(errp[0], &e, sizeof(e))) < 0 && errno == EINTR)
        ;
    if (n == (ssize_t)sizeof(e)) {
        if (!daemon)
            waitpid(pid, NULL, 0);
        memset(out, 0, sizeof(*out));
        rc = st_err_set(err, -e, "cannot run %s: %s", argv[0], strerror(e));
        goto out;
    }
    out->pid = pid;
out:
    if (errp[0] >= 0)
        close(errp[0]);
    if (errp[1] >= 0)
        close(errp[1]);
    if (pidp[0] >= 0)
        close(pidp[0]);
    if (pidp[1] >= 0)
        close(pidp[1]);
    if (logfd >= 0)
        close(logfd);
    if (nullfd >= 0)
        close(nullfd);
    free(envp);
    return rc;
}

char *
local_bin(const char *name)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n <= 0)
        return st_xstrdup(name);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL)
        *slash = '\0';
    return st_xasprintf("%s/%s", self, name);
}

/* ---- readiness ---------------------------------------------------------------- */

static size_t
local_discard(char *p, size_t size, size_t n, void *data)
{
    return size * n;
}

int
local_http_status(const char *url, long timeout_ms)
{
    CURL *h = curl_easy_init();
    long status = 0;
    CURLcode cc;

    if (h == NULL)
        return -ENOMEM;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, local_discard);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE, 65536L);
    cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return ST_ETIMEOUT;
    if (cc != CURLE_OK)
        return -ECONNREFUSED;
    return (int)status;
}

int
local_wait_http(const char *url, const struct local_proc *p, uint64_t timeout_ms,
                struct st_err *err)
{
    uint64_t deadline = st_now_ms() + timeout_ms;
    int last = 0;

    for (;;) {
        last = local_http_status(url, 1000);
        if (last == 200)
            return 0;
        if (p != NULL && !local_proc_alive(p))
            return st_err_set(err, -ESRCH, "the process behind %s exited", url);
        if (st_now_ms() >= deadline)
            break;
        local_sleep_ms(LOCAL_POLL_MS * 2);
    }
    if (last > 0)
        return st_err_set(err, ST_ETIMEOUT, "%s answered %d after %llu ms", url, last,
                          (unsigned long long)timeout_ms);
    return st_err_set(err, ST_ETIMEOUT, "%s did not answer within %llu ms", url,
                      (unsigned long long)timeout_ms);
}

static int
local_sockaddr(const char *addr, int port, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, addr, &sa->sin_addr) == 1 ? 0 : ST_EINVAL;
}

int
local_wait_tcp(const char *addr, int port, const struct local_proc *p, uint64_t timeout_ms)
{
    uint64_t deadline = st_now_ms() + timeout_ms;
    struct sockaddr_in sa;

    if (local_sockaddr(addr, port, &sa) < 0)
        return ST_EINVAL;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
        if (rc == 0)
            return 0;
        if (p != NULL && !local_proc_alive(p))
            return -ESRCH;
        if (st_now_ms() >= deadline)
            return ST_ETIMEOUT;
        local_sleep_ms(LOCAL_POLL_MS);
    }
}

bool
local_port_free(const char *addr, int port)
{
    struct sockaddr_in sa;
    int one = 1;

    if (local_sockaddr(addr, port, &sa) < 0)
        return false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* ---- the cluster's API ------------------------------------------------------------ */

struct st_kube_client *
local_kube_client(const struct local_cluster *c, uint64_t total_ms, struct st_err *err)
{
    char *path = local_path(c->home, "kubeconfig");
    struct st_kube_load_opts lo = {.kubeconfig_path = path, .context = c->name};
    struct st_kube_config *cfg = st_kube_config_load(&lo, err);
    struct st_kube_client *k = NULL;

    free(path);
    if (cfg == NULL)
        return NULL;
    k = st_kube_client_new(cfg, err);
    st_kube_config_free(cfg);
    if (k != NULL)
        st_kube_client_set_limits(k, 2000, total_ms, 0);
    return k;
}

/* ---- workload identity ------------------------------------------------------------ */

char *
local_identity_name(const char *ns, const char *sa)
{
    return st_xasprintf("%s.%s.serviceaccount.identity.strait.%s", sa, ns, LOCAL_TRUST_DOMAIN);
}

/* Creates ServiceAccount <sa> in <ns> unless it exists. */
static int
local_sa_ensure(struct st_kube_client *k, const char *ns, const char *sa, struct st_err *err)
{
    char *path = st_kube_path("", "v1", "serviceaccounts", ns, sa);
    char *coll = st_kube_path("", "v1", "serviceaccounts", ns, NULL);
    json_t *got = NULL, *obj = NULL;
    int rc = st_kube_get(k, path, &got, err);

    if (rc == ST_ENOTFOUND) {
        obj = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "ServiceAccount",
                        "metadata", "name", sa, "namespace", ns);
        rc = st_kube_create(k, coll, obj, NULL, err);
        if (rc == ST_ECONFLICT) /* someone else made it meanwhile */
            rc = 0;
    }
    if (rc < 0)
        local_err_wrap(err, rc, "ServiceAccount %s/%s", ns, sa);
    json_decref(got);
    json_decref(obj);
    free(path);
    free(coll);
    return rc;
}

int
local_sa_token(struct st_kube_client *k, const char *ns, const char *sa, const char *secret,
               struct st_buf *out, struct st_err *err)
{
    char *coll = st_kube_path("", "v1", "secrets", ns, NULL);
    char *path = st_kube_path("", "v1", "secrets", ns, secret);
    json_t *obj = NULL, *got = NULL;
    uint64_t deadline = st_now_ms() + LOCAL_TOKEN_WAIT_MS;
    bool created = false;
    int rc;

    if ((rc = local_sa_ensure(k, ns, sa, err)) < 0)
        goto out;
    for (;;) {
        json_decref(got);
        got = NULL;
        rc = st_kube_get(k, path, &got, err);
        if (rc == ST_ENOTFOUND && !created) {
            obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:{s:s}}, s:s}", "apiVersion",
                            "v1", "kind", "Secret", "metadata", "name", secret, "namespace", ns,
                            "labels", "strait.io/token-for", "proxy", "annotations",
                            "kubernetes.io/service-account.name", sa, "type",
                            "kubernetes.io/service-account-token");
            rc = st_kube_create(k, coll, obj, NULL, err);
            created = true;
            if (rc == 0 || rc == ST_ECONFLICT)
                continue; /* read what was stored, with the token the apiserver filled in */
        }
        if (rc < 0) {
            local_err_wrap(err, rc, "token Secret %s/%s", ns, secret);
            goto out;
        }
        const char *type = st_json_str(got, "type");
        static const char *const owner_path[] = {"metadata", "annotations",
                                                 "kubernetes.io/service-account.name"};
        const char *owner = st_json_strv(got, owner_path, 3);
        if (type == NULL || strcmp(type, "kubernetes.io/service-account-token") != 0 ||
            owner == NULL || strcmp(owner, sa) != 0) {
            rc = st_err_set(err, ST_ECONFLICT,
                            "Secret %s/%s exists but is not a token of ServiceAccount %s", ns,
                            secret, sa);
            goto out;
        }
        const char *t = st_json_str(got, "data.token");
        st_buf_reset(out);
        if (t != NULL && t[0] != '\0' && st_base64_decode(t, strlen(t), out) == 0 &&
            out->len > 0)
            break;
        if (st_now_ms() >= deadline) {
            rc = st_err_set(err, ST_ETIMEOUT, "token Secret %s/%s has no token", ns, secret);
            goto out;
        }
        local_sleep_ms(LOCAL_POLL_MS);
    }
    rc = 0;
out:
    json_decref(obj);
    json_decref(got);
    free(coll);
    free(path);
    return rc;
}

int
local_workload_token(struct st_kube_client *k, const char *ns, const char *sa, const char *dir,
                     struct st_err *err)
{
    struct st_buf tok = ST_BUF_INIT(LOCAL_TOKEN_MAX);
    char *secret = local_token_secret_name(sa);
    char *file = local_path(dir, "token");
    int rc;

    if ((rc = st_mkdir_p(dir, 0700)) < 0) {
        st_err_set(err, rc, "cannot create %s: %s", dir, st_strerror(rc));
        goto out;
    }
    if ((rc = local_sa_token(k, ns, sa, secret, &tok, err)) < 0)
        goto out;
    if ((rc = st_file_write_atomic(file, tok.data, tok.len, 0600)) < 0)
        st_err_set(err, rc, "cannot write %s: %s", file, st_strerror(rc));
out:
    st_buf_free_secret(&tok);
    free(secret);
    free(file);
    return rc;
}

char *
local_token_secret_name(const char *sa)
{
    return st_xasprintf("%s-token", sa);
}

/* ---- workloads ---------------------------------------------------------------- */

int
local_rm_rf(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        if (d == NULL)
            return -errno;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *sub = local_path(path, "%s", e->d_name);
            local_rm_rf(sub);
            free(sub);
        }
        closedir(d);
        return rmdir(path) < 0 ? -errno : 0;
    }
    return unlink(path) < 0 ? -errno : 0;
}

/* Stops what a dead supervisor left behind and removes its files. */
static void
local_workload_prune(json_t *w, const char *file)
{
    struct local_proc app = {(pid_t)st_json_int_or(w, "appPid", 0),
                             (uint64_t)st_json_int_or(w, "appStart", 0)};
    struct local_proc proxy = {(pid_t)st_json_int_or(w, "proxyPid", 0),
                               (uint64_t)st_json_int_or(w, "proxyStart", 0)};

    local_proc_stop(&app, 2000);
    local_proc_stop(&proxy, 2000);
    const char *idir = st_json_str(w, "identityDir");
    if (idir != NULL)
        local_rm_rf(idir);
    unlink(file);
}

/* Appends the workloads of namespace directory <nsdir> to <out>. */
static void
local_workloads_in(const char *nsdir, bool prune, json_t *out)
{
    DIR *d = opendir(nsdir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (!st_str_has_suffix(e->d_name, ".json") || e->d_name[0] == '.')
            continue;
        char *file = local_path(nsdir, "%s", e->d_name);
        json_t *w = local_json_read(file, NULL);
        if (w != NULL) {
            struct local_proc sup = {(pid_t)st_json_int_or(w, "pid", 0),
                                     (uint64_t)st_json_int_or(w, "pidStart", 0)};
            if (local_proc_alive(&sup)) {
                json_object_set_new(w, "file", json_string(file));
                json_array_append(out, w);
            } else if (prune) {
                local_workload_prune(w, file);
            }
            json_decref(w);
        }
        free(file);
    }
    closedir(d);
}

static int
local_workload_cmp(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(st_json_str(x, "namespace") ?: "", st_json_str(y, "namespace") ?: "");
    return c != 0 ? c : strcmp(st_json_str(x, "name") ?: "", st_json_str(y, "name") ?: "");
}

int
local_workloads(const struct local_cluster *c, const char *ns, bool prune, json_t **out,
                struct st_err *err)
{
    char *root = local_path(c->dir, "workloads");
    json_t *all = json_array();

    if (ns != NULL) {
        char *nsdir = local_path(root, "%s", ns);
        local_workloads_in(nsdir, prune, all);
        free(nsdir);
    } else {
        DIR *d = opendir(root);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (!local_name_ok(e->d_name))
                continue;
            char *nsdir = local_path(root, "%s", e->d_name);
            local_workloads_in(nsdir, prune, all);
            free(nsdir);
        }
        if (d != NULL)
            closedir(d);
    }
    free(root);
    size_t n = json_array_size(all);
    json_t **v = st_xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(all, i));
    qsort(v, n, sizeof(*v), local_workload_cmp);
    json_array_clear(all);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(all, v[i]);
    free(v);
    *out = all;
    ST_UNUSED(err);
    return 0;
}

int
local_routes_write(const struct local_cluster *c, struct st_err *err)
{
    json_t *ws = NULL, *svcs = json_object();
    char *path = local_path(c->dir, "routes.json");
    size_t i;
    json_t *w;
    int rc;

    local_workloads(c, NULL, false, &ws, NULL);
    json_array_foreach(ws, i, w)
    {
        const char *kind = st_json_str(w, "kind"), *addr = st_json_str(w, "address");
        const char *id = st_json_str(w, "identity");
        json_t *ports = json_object_get(w, "ports"), *p;
        size_t j;
        if (kind == NULL || strcmp(kind, "run") != 0 || addr == NULL || id == NULL)
            continue;
        json_array_foreach(ports, j, p)
        {
            int64_t port = json_integer_value(p);
            char *auth = st_xasprintf("%s:%lld", addr, (long long)port);
            char *ep = st_xasprintf("%s:4143", addr);
            json_object_set_new(svcs, auth,
                                json_pack("{s:[{s:s, s:s, s:I}]}", "endpoints", "addr", ep,
                                          "identity", id, "target_port", (json_int_t)port));
            free(auth);
            free(ep);
        }
    }
    json_t *root = json_pack("{s:o, s:{}}", "services", svcs, "splits");
    rc = local_json_write(path, root, 0644, err);
    json_decref(root);
    json_decref(ws);
    free(path);
    return rc;
}
