/* The admin kubeconfig that strait-apiserver writes for kubectl. */
#ifndef STRAIT_APISERVER_KUBECONFIG_H
#define STRAIT_APISERVER_KUBECONFIG_H

#include <stdbool.h>

#include "strait/core.h"

struct kubeconfig_entry {
    const char *context;     /* names the cluster and context; the user is "<context>-admin" */
    const char *server;      /* https://ADDR:PORT */
    const char *ca_data_b64; /* the serving CA, PEM, base64-encoded */
    const char *token;       /* the admin bearer token */
    bool set_current;        /* make it current-context even if another one is */
};

/*
 * Adds or replaces the cluster, user and context of <e> in the kubeconfig at
 * <path>, keeping every other entry, under an exclusive lock; the file is
 * replaced atomically with mode 0600. Refuses to touch a file that is not a
 * kubeconfig. Returns 0 or a negative code with <err> set.
 */
int kubeconfig_write(const char *path, const struct kubeconfig_entry *e, struct st_err *err);

#endif
