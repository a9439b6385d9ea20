/* problem.h - the one registry of pokyd's error answers.
 *
 * Every error answer of the API is an RFC 9457 problem document made here
 * from a reason (what failed, include/poky/reason.h) and an enum poky_err
 * (how it failed): one table says the status, problem type, title and
 * Retry-After.  Handlers and http.c name the reason and give the detail;
 * they never choose a status or a title.  The table's golden cases are in
 * test/data/problems/cases.json. */
#ifndef POKY_PROBLEM_H
#define POKY_PROBLEM_H

#include <stddef.h>

#include <jansson.h>

#include "poky/api.h"
#include "poky/err.h"
#include "poky/reason.h"

#define PROBLEM_ANY (-1)                /* a row for every enum poky_err */
#define PROBLEM_RETRY_HINT (-1)         /* Retry-After: the service's hint, else 5 */

struct problem {
	enum poky_reason reason;
	int kind;                       /* an enum poky_err, or PROBLEM_ANY */
	int status;
	const char *type;               /* NULL: about:blank */
	const char *title;
	int retry_after;                /* seconds, 0 for none, or PROBLEM_RETRY_HINT */
};

/* The table, in lookup order: the first row of a reason whose kind is the
 * error's (or PROBLEM_ANY) answers.  problem_n_rows rows. */
extern const struct problem problem_rows[];
extern const size_t problem_n_rows;

/* Every problem type the table answers with, "about:blank" first,
 * NULL-ended: what README and openapi.json list. */
extern const char *const problem_types[];

/* The row for reason and kind (never NULL: REASON_INTERNAL's when the
 * reason has no row, which the golden test rules out). */
const struct problem *problem_find(enum poky_reason reason, enum poky_err kind);

/* The Retry-After of an answer from p, in seconds; 0 for none.  e (may be
 * NULL) carries the service's hint. */
int problem_retry_after(const struct problem *p, const struct poky_error *e);

/* A reason's stable name ("launch_docker"); NULL when out of range. */
const char *problem_reason_name(enum poky_reason reason);

/* Answer r with the problem for why and e's code (e NULL: any kind), the
 * detail formatted from fmt.  Replaces any answer r held. */
void api_fail(struct api_resp *r, enum poky_reason why,
	      const struct poky_error *e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Answer r with the problem for why, listing errors ([{field, message}],
 * owned by the answer from here on) and "N fields rejected" as detail. */
void api_fail_fields(struct api_resp *r, enum poky_reason why, json_t *errors);

#endif
