/* metrics.h - counters and histograms in Prometheus text format 0.0.4.
 *
 * A series is a metric name plus a label set written as Prometheus does
 * ('route="/tasks",code="202"'); label values are escaped here.  Thread-safe;
 * the number of series is bounded so hostile input can't grow it. */
#ifndef POKY_METRICS_H
#define POKY_METRICS_H

#include <stddef.h>

struct metrics;

#define METRICS_MAX_SERIES 4096

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Declare a metric's help text and type ("counter", "gauge", "histogram")
 * once, before use. */
void metrics_describe(struct metrics *m, const char *name, const char *type,
		      const char *help);

/* A histogram with buckets for task run times and queue waits (1 s to a
 * day) instead of the request latency ones (1 ms to 10 s). */
void metrics_describe_long(struct metrics *m, const char *name,
			   const char *help);

/* The standard process_* metrics (Prometheus client conventions): describe
 * them once, collect before each render.  Read from /proc on Linux. */
void metrics_describe_process(struct metrics *m);
void metrics_collect_process(struct metrics *m);

/* Ends a label list (a typed NULL: a bare NULL in a variadic call is
 * undefined behaviour where NULL is a plain 0). */
#define METRICS_END ((const char *)NULL)

/* Add v to the series name{labels}; labels is "k1", "v1", ..., METRICS_END. */
void metrics_add(struct metrics *m, const char *name, double v, ...);
void metrics_set(struct metrics *m, const char *name, double v, ...);

/* Record an observation in a histogram with the standard latency buckets. */
void metrics_observe(struct metrics *m, const char *name, double v, ...);

/* The whole exposition, malloc'd (caller frees), length in *len. */
char *metrics_render(struct metrics *m, size_t *len);

#endif
