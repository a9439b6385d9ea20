/* webhook_internal.h - what webhook.c (deliveries) and webhook_url.c (the
 * URL and address rules) share. */
#ifndef POKY_WEBHOOK_INTERNAL_H
#define POKY_WEBHOOK_INTERNAL_H

#include <arpa/inet.h>
#include <stddef.h>

#include "poky/config.h"

#define URL_MAX 2048                    /* as at submit (tasks.c) */
#define HOST_MAX 256
#define MAX_ADDRS 8                     /* pinned addresses per delivery */

/* The target of one delivery. */
struct target {
	char url[URL_MAX + 1];          /* as sent: the host lowercased */
	char host[HOST_MAX];            /* lowercased, no brackets */
	char port[8];
	char resolve[HOST_MAX + 8 + MAX_ADDRS * (INET6_ADDRSTRLEN + 3)];
};

enum verdict { TARGET_OK, TARGET_REFUSED, TARGET_RETRY };

/* Check url against the rules of webhook.h and resolve it; every address
 * is checked and pinned (tg->resolve) so libcurl connects to what was
 * checked.  TARGET_OK: tg says where to send.  Otherwise why[] says why
 * not: TARGET_REFUSED for good, TARGET_RETRY (the name did not resolve)
 * for now. */
enum verdict webhook_target_check(const struct config *cfg, const char *url,
				  struct target *tg, char *why, size_t why_cap);

#endif
