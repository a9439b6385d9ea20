/* metrics.c - Prometheus text exposition (see metrics.h). */
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "poky/buf.h"
#include "poky/metrics.h"

#define MAX_DESC 64
#define LABELS_MAX 512

static const double buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

/* Task run times and queue waits: a second to a day, as many buckets. */
static const double long_buckets[N_BUCKETS] = { 1, 5, 10, 30, 60, 120, 300,
	600, 1800, 3600, 7200, 21600, 86400 };

struct series {
	char *name;
	char *labels;                   /* rendered, escaped; "" for none */
	double value;                   /* counters/gauges; histogram sum */
	double count;                   /* histogram */
	double bucket[N_BUCKETS];
	const double *bk;               /* the bucket bounds */
	bool histogram;
};

struct desc {
	char *name, *type, *help;
	bool long_buckets;
};

struct metrics {
	pthread_mutex_t lock;
	struct series *s;
	size_t n;
	struct desc d[MAX_DESC];
	size_t nd;
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->s = calloc(METRICS_MAX_SERIES, sizeof(*m->s));
	if (m->s == NULL) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->s[i].name);
		free(m->s[i].labels);
	}
	for (size_t i = 0; i < m->nd; i++) {
		free(m->d[i].name);
		free(m->d[i].type);
		free(m->d[i].help);
	}
	free(m->s);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void
metrics_describe(struct metrics *m, const char *name, const char *type,
		 const char *help)
{
	pthread_mutex_lock(&m->lock);
	if (m->nd < MAX_DESC) {
		m->d[m->nd].name = strdup(name);
		m->d[m->nd].type = strdup(type);
		m->d[m->nd].help = strdup(help);
		m->nd++;
	}
	pthread_mutex_unlock(&m->lock);
}

void
metrics_describe_long(struct metrics *m, const char *name, const char *help)
{
	metrics_describe(m, name, "histogram", help);
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nd; i++)
		if (m->d[i].name != NULL && strcmp(m->d[i].name, name) == 0)
			m->d[i].long_buckets = true;
	pthread_mutex_unlock(&m->lock);
}

/* k="v" pairs with \\, \" and \n escaped, as the format requires. */
static void
render_labels(char *out, size_t cap, va_list ap)
{
	size_t pos = 0;
	const char *k;

	out[0] = '\0';
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);

		if (v == NULL)
			v = "";
		pos += (size_t)snprintf(out + pos, pos < cap ? cap - pos : 0, "%s%s=\"",
		    pos ? "," : "", k);
		for (; *v && pos + 3 < cap; v++) {
			if (*v == '\\' || *v == '"') {
				out[pos++] = '\\';
				out[pos++] = *v;
			} else if (*v == '\n') {
				out[pos++] = '\\';
				out[pos++] = 'n';
			} else {
				out[pos++] = *v;
			}
		}
		if (pos + 1 < cap)
			out[pos++] = '"';
		out[pos < cap ? pos : cap - 1] = '\0';
	}
}

static struct series *
find(struct metrics *m, const char *name, const char *labels)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->s[i].name, name) == 0 &&
		    strcmp(m->s[i].labels, labels) == 0)
			return &m->s[i];
	if (m->n == METRICS_MAX_SERIES)
		return NULL;
	m->s[m->n].bk = buckets;
	for (size_t i = 0; i < m->nd; i++)
		if (m->d[i].long_buckets && strcmp(m->d[i].name, name) == 0)
			m->s[m->n].bk = long_buckets;
	m->s[m->n].name = strdup(name);
	m->s[m->n].labels = strdup(labels);
	if (m->s[m->n].name == NULL || m->s[m->n].labels == NULL) {
		free(m->s[m->n].name);
		free(m->s[m->n].labels);
		return NULL;
	}
	return &m->s[m->n++];
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static void
update(struct metrics *m, const char *name, double v, enum op op, va_list ap)
{
	char labels[LABELS_MAX];
	struct series *s;

	if (m == NULL)
		return;
	render_labels(labels, sizeof(labels), ap);
	pthread_mutex_lock(&m->lock);
	s = find(m, name, labels);
	if (s != NULL) {
		switch (op) {
		case OP_ADD: s->value += v; break;
		case OP_SET: s->value = v; break;
		case OP_OBSERVE:
			s->histogram = true;
			s->value += v;
			s->count += 1;
			for (size_t i = 0; i < N_BUCKETS; i++)
				if (v <= s->bk[i])
					s->bucket[i] += 1;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

void
metrics_add(struct metrics *m, const char *name, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	update(m, name, v, OP_ADD, ap);
	va_end(ap);
}

void
metrics_set(struct metrics *m, const char *name, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	update(m, name, v, OP_SET, ap);
	va_end(ap);
}

void
metrics_observe(struct metrics *m, const char *name, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	update(m, name, v, OP_OBSERVE, ap);
	va_end(ap);
}

static void
render_series(struct buf *b, const struct series *s)
{
	const char *sep = s->labels[0] ? "," : "";

	if (!s->histogram) {
		buf_printf(b, "%s%s%s%s %.17g\n", s->name, s->labels[0] ? "{" : "",
		    s->labels, s->labels[0] ? "}" : "", s->value);
		return;
	}
	for (size_t i = 0; i < N_BUCKETS; i++)
		buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %.17g\n", s->name, s->labels,
		    sep, s->bk[i], s->bucket[i]);
	buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %.17g\n", s->name, s->labels, sep,
	    s->count);
	buf_printf(b, "%s_sum%s%s%s %.17g\n", s->name, s->labels[0] ? "{" : "",
	    s->labels, s->labels[0] ? "}" : "", s->value);
	buf_printf(b, "%s_count%s%s%s %.17g\n", s->name, s->labels[0] ? "{" : "",
	    s->labels, s->labels[0] ? "}" : "", s->count);
}

char *
metrics_render(struct metrics *m, size_t *len)
{
	struct buf b;
	char *out;

	buf_init(&b, 16u << 20);
	pthread_mutex_lock(&m->lock);
	/* Every series of a family together, after its HELP and TYPE. */
	for (size_t d = 0; d < m->nd; d++) {
		buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", m->d[d].name,
		    m->d[d].help, m->d[d].name, m->d[d].type);
		for (size_t i = 0; i < m->n; i++)
			if (strcmp(m->s[i].name, m->d[d].name) == 0)
				render_series(&b, &m->s[i]);
	}
	pthread_mutex_unlock(&m->lock);
	*len = b.len;
	out = buf_take(&b);
	return out;
}

/* ---- the process collector ---------------------------------------------- */

void
metrics_describe_process(struct metrics *m)
{
	metrics_describe(m, "process_start_time_seconds", "gauge",
	    "Start time of the process since the Unix epoch in seconds.");
	metrics_describe(m, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.");
	metrics_describe(m, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.");
	metrics_describe(m, "process_virtual_memory_bytes", "gauge",
	    "Virtual memory size in bytes.");
	metrics_describe(m, "process_open_fds", "gauge",
	    "Number of open file descriptors.");
	metrics_describe(m, "process_max_fds", "gauge",
	    "Maximum number of open file descriptors.");
}

/* Boot time (btime in /proc/stat), for the start time /proc gives in
 * ticks since boot.  0 when unknown. */
static double
boot_time(void)
{
	FILE *f = fopen("/proc/stat", "re");
	char line[256];
	unsigned long long bt = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "btime ", 6) == 0) {
			bt = strtoull(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return (double)bt;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	const struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;   /* the directory stream's own descriptor */
}

void
metrics_collect_process(struct metrics *m)
{
	char stat[1024], *p, *save = NULL;
	unsigned long long v[25] = { 0 };
	int field = 2;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct rlimit rl;
	FILE *f = fopen("/proc/self/stat", "re");
	size_t n = 0;
	int fds;

	if (f != NULL) {
		n = fread(stat, 1, sizeof(stat) - 1, f);
		fclose(f);
	}
	stat[n] = '\0';
	/* The command name (field 2) may hold spaces and ')': fields are
	 * counted from the last ')'.  After it: state (3) ... utime (14),
	 * stime (15), ... starttime (22), vsize (23), rss (24, pages). */
	p = strrchr(stat, ')');
	if (p != NULL)
		for (char *tok = strtok_r(p + 1, " \n", &save); tok != NULL &&
		    ++field < 25; tok = strtok_r(NULL, " \n", &save))
			v[field] = field == 3 ? 0 : strtoull(tok, NULL, 10);
	if (field >= 24 && tick > 0 && page > 0) {
		double bt = boot_time();

		metrics_set(m, "process_cpu_seconds_total",
		    (double)(v[14] + v[15]) / (double)tick, METRICS_END);
		if (bt > 0)
			metrics_set(m, "process_start_time_seconds",
			    bt + (double)v[22] / (double)tick, METRICS_END);
		metrics_set(m, "process_virtual_memory_bytes", (double)v[23],
		    METRICS_END);
		metrics_set(m, "process_resident_memory_bytes",
		    (double)v[24] * (double)page, METRICS_END);
	}
	if ((fds = count_fds()) >= 0)
		metrics_set(m, "process_open_fds", fds, METRICS_END);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		metrics_set(m, "process_max_fds", rl.rlim_cur == RLIM_INFINITY ?
		    -1 : (double)rl.rlim_cur, METRICS_END);
}
