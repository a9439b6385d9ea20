/* tracker.h - follow ECS tasks to their end (a background thread).
 *
 * Polls DescribeTasks (100 tasks a call) for every unfinished ECS task,
 * backing off while nothing changes; moves records starting -> running ->
 * succeeded | failed | cancelled | lost; enforces timeouts with StopTask;
 * and finishes launches whose outcome is unknown - cut by a crash, or with
 * no answer or only 5xx from ECS - with the same clientToken, so ECS starts
 * nothing twice. */
#ifndef POKY_TRACKER_H
#define POKY_TRACKER_H

struct app;
struct tracker;

struct tracker *tracker_new(struct app *app);
void tracker_free(struct tracker *t);

/* Poll now instead of at the next interval (tests, cancel). */
void tracker_kick(struct tracker *t);

#endif
