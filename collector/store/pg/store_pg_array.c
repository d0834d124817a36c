/*
 * store_pg_array — PostgreSQL array literals in a growing buffer
 * (store_pg_array.h).
 */
#include "store_pg_array.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool need(struct store_pg_array *a, size_t more)
{
    if (a->oom)
        return false;
    if (a->len + more + 1 <= a->cap)
        return true;
    size_t ncap = a->cap ? a->cap : 256;
    while (ncap < a->len + more + 1) {
        if (ncap > SIZE_MAX / 2) {
            a->oom = true;
            return false;
        }
        ncap *= 2;
    }
    char *nb = realloc(a->buf, ncap);
    if (nb == NULL) {
        a->oom = true;
        return false;
    }
    a->buf = nb;
    a->cap = ncap;
    return true;
}

static void put(struct store_pg_array *a, const char *s, size_t n)
{
    if (!need(a, n))
        return;
    memcpy(a->buf + a->len, s, n);
    a->len += n;
    a->buf[a->len] = '\0';
}

/* The separator before every element but the first. */
static void next(struct store_pg_array *a)
{
    if (a->n++ > 0)
        put(a, ",", 1);
}

void store_pg_array_start(struct store_pg_array *a)
{
    a->len = a->n = 0;
    a->oom = false;
    put(a, "{", 1);
}

void store_pg_array_i64(struct store_pg_array *a, int64_t v)
{
    char num[24];
    int k = snprintf(num, sizeof(num), "%" PRId64, v);
    next(a);
    put(a, num, (size_t)k);
}

void store_pg_array_u64(struct store_pg_array *a, uint64_t v)
{
    store_pg_array_i64(a, v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v);
}

void store_pg_array_bool(struct store_pg_array *a, bool v)
{
    next(a);
    put(a, v ? "t" : "f", 1);
}

void store_pg_array_i64_or_null(struct store_pg_array *a, int64_t v, bool is_null)
{
    if (is_null) {
        next(a);
        put(a, "NULL", 4);
    } else {
        store_pg_array_i64(a, v);
    }
}

void store_pg_array_text(struct store_pg_array *a, const char *s)
{
    next(a);
    if (s == NULL) {
        put(a, "NULL", 4);
        return;
    }
    /* Inside double quotes only '"' and '\' are special to array_in. */
    size_t n = strlen(s);
    if (!need(a, 2 * n + 2))
        return;
    char *w = a->buf + a->len;
    *w++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            *w++ = '\\';
        *w++ = s[i];
    }
    *w++ = '"';
    a->len = (size_t)(w - a->buf);
    a->buf[a->len] = '\0';
}

const char *store_pg_array_end(struct store_pg_array *a)
{
    put(a, "}", 1);
    return a->oom ? NULL : a->buf;
}

void store_pg_array_free(struct store_pg_array *a)
{
    free(a->buf);
    *a = (struct store_pg_array){0};
}
