/*
 * collectors — `vantage-collector collectors`: the collectors that run
 * (or lately ran) on this database, from the registry they keep in the
 * store (cluster.h): host, pid, start, heartbeat, version, agents, which
 * one runs continuous diagnosis, and whether each one's target list is
 * the one of this collector.conf.
 */
#ifndef VANTAGE_COLLECTORS_H
#define VANTAGE_COLLECTORS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "collconf.h"
#include "store.h"

/* *alive: the collectors with a heartbeat within CLUSTER_ALIVE_US of
 * now_us; *differ: those of them whose target list is not targets (the
 * version of a target list). Returns 0 or -1 (store_error). */
int collectors_count(struct store *s, const char *targets, int64_t now_us, size_t *alive,
                     size_t *differ);

/* The command: a table, or JSON Lines with json. Returns the exit status
 * (0, or 2 after printing why to stderr). */
int collectors_list(const struct collconf *c, bool json, FILE *out);

#endif
