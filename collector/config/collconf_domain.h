/*
 * collconf_domain — the registration keys of collector.conf
 * (docs/reference.md "Configuration"): what a target's domain adds
 * besides its DNS checks (autoconfig://D everywhere, rdap://D on a few
 * agents, collector/assign.c), rdap_interval, and the
 * collector's rdap_bootstrap pushed to agents. Part of collconf; only
 * collconf.c calls these.
 */
#ifndef VANTAGE_COLLCONF_DOMAIN_H
#define VANTAGE_COLLCONF_DOMAIN_H

#include <stddef.h>

#include "collconf.h"
#include "config.h"
#include "wire.h"

/* Adds autoconfig://D and rdap://D to t when it has a domain D (unless
 * configured already) and sets t->rdap_interval_ms when t has an rdap://
 * check. 0, or -1 with err (err empty: out of memory). */
int collconf_domain_checks(const struct config *c, const struct config_section *s,
                           struct wire_target *t, char *err, size_t errlen);

/* value: rdap_bootstrap as read (NULL = the default). A URL goes into
 * w->rdap_bootstrap_url as written; a file is read (bounded by
 * WIRE_RDAP_BOOTSTRAP_MAX), checked to be an RFC 9224 registry and put
 * into w->rdap_bootstrap_json. 0, or -1 with err (empty: out of memory). */
int collconf_rdap_bootstrap(const struct config *c, const struct config_section *main_s,
                            const char *value, struct wire_config *w, char *err, size_t errlen);

#endif
