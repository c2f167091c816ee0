/* Growable byte buffers with a hard cap on their length. */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>

#include "strait/core.h"

void
st_buf_init(struct st_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void
st_buf_free(struct st_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
st_buf_free_secret(struct st_buf *b)
{
    if (b->data != NULL)
        explicit_bzero(b->data, b->cap + 1);
    st_buf_free(b);
}

static size_t
buf_limit(const struct st_buf *b)
{
    return b->max ? b->max : SIZE_MAX - 1;
}

int
st_buf_reserve(struct st_buf *b, size_t n)
{
    size_t limit = buf_limit(b);

    if (n > limit || b->len > limit - n)
        return ST_ETOOBIG;
    size_t need = b->len + n;
    if (need <= b->cap && b->data != NULL)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > limit)
        cap = limit;
    b->data = st_xrealloc(b->data, cap + 1);
    b->cap = cap;
    b->data[b->len] = '\0';
    return 0;
}

int
st_buf_append(struct st_buf *b, const void *p, size_t n)
{
    int rc = st_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
st_buf_append_str(struct st_buf *b, const char *s)
{
    return st_buf_append(b, s, strlen(s));
}

int
st_buf_vappendf(struct st_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    char small[256];

    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof(small))
        return st_buf_append(b, small, (size_t)n);
    int rc = st_buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int
st_buf_appendf(struct st_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = st_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void
st_buf_consume(struct st_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data != NULL)
        b->data[b->len] = '\0';
}

void
st_buf_reset(struct st_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

const char *
st_buf_cstr(const struct st_buf *b)
{
    return b->data ? b->data : "";
}

char *
st_buf_steal(struct st_buf *b)
{
    char *p = b->data ? b->data : st_xstrdup("");
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
