/* tbucket.c - the adaptive token bucket (see tbucket.h). */
#include "poky/tbucket.h"

/* On a throttle the rate drops to this share of itself (CUBIC's beta, as
 * the SDKs' adaptive mode uses): gentler than halving, so a bucket that
 * meets ECS's own at its edge loses little. */
#define TB_BACKOFF 0.7

void
tbucket_init(struct tbucket *b, double rate, double burst, double now)
{
	b->max_rate = b->rate = rate;
	b->burst = burst < 1 ? 1 : burst;
	b->tokens = b->burst;
	b->last = now;
}

static void
tbucket_refill(struct tbucket *b, double now)
{
	if (now > b->last) {
		b->tokens += (now - b->last) * b->rate;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
	}
	b->last = now;
}

bool
tbucket_take(struct tbucket *b, double now, double *wait)
{
	tbucket_refill(b, now);
	/* Within a rounding error of a whole token is one: else the wait
	 * for the last sliver could be too small to move the clock. */
	if (b->tokens >= 1 - 1e-9) {
		b->tokens -= 1;
		return true;
	}
	*wait = (1 - b->tokens) / b->rate;
	return false;
}

void
tbucket_throttled(struct tbucket *b, double now)
{
	tbucket_refill(b, now);
	b->rate *= TB_BACKOFF;
	/* The floor keeps a pause after a storm of throttles short. */
	if (b->rate < b->max_rate / 64)
		b->rate = b->max_rate / 64;
	if (b->tokens > 0)
		b->tokens = 0;
}

void
tbucket_success(struct tbucket *b)
{
	b->rate += b->max_rate / 20;
	if (b->rate > b->max_rate)
		b->rate = b->max_rate;
}
