/* Allocation that aborts on failure, and wiping of secrets. */
#include <stdio.h>
#include <stdlib.h>

#include "strait/core.h"

void
st_oom(void)
{
    static const char msg[] = "strait: out of memory\n";
    fwrite(msg, 1, sizeof(msg) - 1, stderr);
    abort();
}

void *
st_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        st_oom();
    return p;
}

void *
st_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (p == NULL)
        st_oom();
    return p;
}

void *
st_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        st_oom();
    return q;
}

char *
st_xstrdup(const char *s)
{
    return st_xstrndup(s, strlen(s));
}

char *
st_xstrndup(const char *s, size_t n)
{
    char *p = st_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
st_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        st_oom();
    return s;
}

void
st_wipe(void *p, size_t n)
{
    if (p != NULL)
        explicit_bzero(p, n);
}

void
st_free_secret(void *p, size_t n)
{
    if (p == NULL)
        return;
    explicit_bzero(p, n);
    free(p);
}
