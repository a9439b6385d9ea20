/* iam.h - every AWS call pokyd makes, as IAM authorizes it.
 *
 * One table (iam.c) lists each API operation pokyd calls with the IAM
 * actions AWS evaluates for it (from AWS's Service Authorization
 * Reference): the action, the resource type and ARN, and the context keys
 * the request carries.  The policy printer is made from that table, and
 * the tests read the same table (iam_calls) to replay the calls the fakes
 * received through an IAM policy simulator against the printed policy. */
#ifndef POKY_IAM_H
#define POKY_IAM_H

#include <jansson.h>

#include "poky/config.h"
#include "poky/err.h"

/* The least-privilege identity policy for cfg's templates: a new reference
 * the caller json_decref's, or NULL (out of memory, e set).  Its Statement
 * list is empty when no template calls AWS. */
json_t *iam_policy(const struct config *cfg, struct poky_error *e);

/* The table resolved for cfg, one row per template and call (new reference,
 * or NULL with e set):
 *   {"partition": "aws", "region": "us-east-1", "calls": [{"template",
 *    "operation" ("ecs:RunTask"), "when" ("always" | "tags": the request
 *    sends tags | "per_role": once for each role it passes), "action",
 *    "resource_type", "resources": [ARN patterns], "context_keys": [...],
 *    "condition": {op: {key: [values]}} or null, "sid"}]} */
json_t *iam_calls(const struct config *cfg, struct poky_error *e);

#endif
