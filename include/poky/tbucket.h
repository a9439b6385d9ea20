/* tbucket.h - a token bucket that adapts to throttling, as the AWS SDKs'
 * adaptive retry mode does: pure (the caller passes the time), so it is
 * unit-tested with a fixed clock.  The launch queue paces RunTask with it. */
#ifndef POKY_TBUCKET_H
#define POKY_TBUCKET_H

#include <stdbool.h>

struct tbucket {
	double max_rate;        /* configured tokens per second */
	double rate;            /* current, after throttling */
	double burst;
	double tokens;
	double last;            /* time of the last refill, seconds */
};

void tbucket_init(struct tbucket *b, double rate, double burst, double now);
/* Take a token: true.  Else false and *wait the seconds until one is there. */
bool tbucket_take(struct tbucket *b, double now, double *wait);
/* The service throttled a call: cut the rate to 0.7 of itself (not below
 * 1/64 of the configured), drop the saved tokens. */
void tbucket_throttled(struct tbucket *b, double now);
/* A call went through: win back a twentieth of the configured rate. */
void tbucket_success(struct tbucket *b);

#endif
