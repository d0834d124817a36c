/*
 * changes — change detection at ingest (docs/reference.md "Networks and vantage
 * points", issue 5): what a result shows that may explain a failure
 * starting, compared with the previous result of the same (agent, target,
 * check), and an agent's network compared with its last hello.
 *
 * Kinds (the contract's correlated_changes[].kind):
 *   dns_answer_changed     the answers of a dns:// check   subject "MX example.com"
 *   address_changed        the address a check resolved to subject "mail.example.com"
 *   cert_changed           the leaf certificate (sha256)   subject "mail.example.com"
 *   agent_network_changed  network label, egress address,  subject the agent's name
 *                          gateway or resolvers
 *   autoconfig_changed     the servers autoconfig://D's    subject "autoconfig example.com"
 *                          sources advertise
 *   nameservers_changed    the name servers rdap://D's     subject "NS example.com (registration)"
 *                          registration lists
 *
 * The hot path is cheap: a hash per fact compared in the store's latest
 * state (store_result_add_facts); texts are copied only when a hash
 * differs.
 */
#ifndef VANTAGE_CHANGES_H
#define VANTAGE_CHANGES_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"
#include "store.h"

/* The DNS answers text of one result: RESULT_LIST_MAX answers of a
 * typical 40 bytes; longer texts are cut (the hash covers all answers). */
#define CHANGES_TEXT_MAX 2048

#define CHANGES_DNS_ANSWER    "dns_answer_changed"
#define CHANGES_ADDRESS       "address_changed"
#define CHANGES_CERT          "cert_changed"
#define CHANGES_AGENT_NETWORK "agent_network_changed"
#define CHANGES_AUTOCONFIG    "autoconfig_changed"
#define CHANGES_NAMESERVERS   "nameservers_changed"

/* Fills f from r: the answers of a passing dns:// check (text in buf,
 * which must outlive f), the resolved address of other checks, and the
 * certificate fingerprint. Facts r does not show get hash 0. */
void changes_facts(const struct result *r, struct store_facts *f, char *buf, size_t buflen);

/* Records one change row (target r->target, agent) per fact prev says
 * changed, at r's start. Returns 0, or -1 with the store's error. */
int changes_record(struct store *s, const char *agent, const struct result *r,
                   const struct store_facts *f, const struct store_prev *prev)
    __attribute__((warn_unused_result));

/* The summary of an agent's network that agent_network_changed compares:
 * "network N, egress A, gateway G, resolvers R1 R2" from the row's
 * network, address and netctx JSON. Writes into buf; returns buf. */
const char *changes_agent_summary(const struct store_agent *a, char *buf, size_t len);

/* On an agent's hello, before store_agent_update(): compares the agent
 * now (network, address, netctx as the hello gives them) with what the
 * store holds for agent_id and records agent_network_changed at at_us when
 * it differs. An agent seen for the first time is not a change. Returns 0
 * or -1 with the store's error. */
int changes_agent_hello(struct store *s, int64_t agent_id, const struct store_agent *now,
                        int64_t at_us) __attribute__((warn_unused_result));

/* The host a check spec names ("imaps://mail.example.com:993" ->
 * "mail.example.com"), or for dns:// checks the queried name; "" when
 * none. Writes into buf; returns buf. */
const char *changes_check_host(const char *check, char *buf, size_t len);

#endif
