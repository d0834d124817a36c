/*
 * store_pg_array — PostgreSQL array literals ('{1,2,"a \"b\""}') built in
 * a growing buffer, for statements that take a whole transaction's rows as
 * a few array parameters (INSERT ... SELECT FROM unnest(...)) instead of
 * one statement per row.
 *
 * An out-of-memory error is remembered and reported by _end, so a caller
 * appends without checking each element.
 */
#ifndef VANTAGE_STORE_PG_ARRAY_H
#define VANTAGE_STORE_PG_ARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_pg_array {
    char *buf;
    size_t len, cap;
    size_t n; /* elements so far */
    bool oom;
};

/* Starts (or restarts, keeping the memory) an empty array. */
void store_pg_array_start(struct store_pg_array *a);
void store_pg_array_i64(struct store_pg_array *a, int64_t v);
/* Above INT64_MAX is written as INT64_MAX (the columns are bigint). */
void store_pg_array_u64(struct store_pg_array *a, uint64_t v);
void store_pg_array_bool(struct store_pg_array *a, bool v);
/* s quoted (backslash before '"' and '\'); NULL is SQL NULL. */
void store_pg_array_text(struct store_pg_array *a, const char *s);
/* An int64 element, or NULL when is_null. */
void store_pg_array_i64_or_null(struct store_pg_array *a, int64_t v, bool is_null);
/* Closes the array: its text, or NULL when memory ran out. */
const char *store_pg_array_end(struct store_pg_array *a);
void store_pg_array_free(struct store_pg_array *a);

#endif
