/* http_internal.h - what the http*.c files share and nothing else sees.
 *
 * The HTTP module is split by concern: http.c (the request path: MHD's
 * callbacks, http_answer, start and stop), http_conn.c (a connection's
 * head and its deadlines), http_auth.c (who may ask: tokens, Host,
 * Origin), http_send.c (answers: the large-answers budget, streams,
 * parked watches), http_offload.c (the offload pool), http_log.c (the
 * access log).  Only these files include libmicrohttpd; handlers see
 * include/poky/http.h and struct api_req. */
#ifndef POKY_HTTP_INTERNAL_H
#define POKY_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "poky/api.h"
#include "poky/app.h"
#include "poky/http.h"

/* Handlers that wait on the network run on offload threads, started on
 * demand up to [aws] max_in_flight (and this), while MHD keeps their
 * connection suspended: a request thread never waits on AWS, so status
 * reads stay fast while launches and S3 checks are slow. */
#define OFFLOAD_MAX_THREADS 512
#define OFFLOAD_STACK (1u << 20)

struct http_job {
	struct MHD_Connection *mc;
	struct http_conn *c;
	char *method, *url, *query;
	bool query_too_long;
	bool done;
	struct api_resp r;
	struct http_job *next;
};

struct http_track {
	struct http_track *prev, *next;
	MHD_socket fd;
	enum http_phase phase;
	double since;                   /* monotonic seconds the phase began */
	unsigned long long bytes;       /* body bytes so far; answer size */
	bool dropped;                   /* shut down once: MHD closes it */
};

struct http_server {
	struct MHD_Daemon *d;
	struct app *app;
	unsigned port;
	atomic_int in_flight;           /* requests begun and not yet answered */
	MHD_socket quiesced;            /* the listen socket after http_quiesce */
	pthread_mutex_t lock;           /* the offload pool */
	pthread_cond_t work;
	struct http_job *jobs, *jobs_tail;
	pthread_t threads[OFFLOAD_MAX_THREADS];
	int n_threads, idle, max_threads;
	bool stop;
	/* Deadlines: every open connection, and the thread that ends the
	 * ones past theirs. */
	pthread_mutex_t tlock;
	pthread_cond_t tick;
	struct http_track *tracks;
	int n_live;                     /* tracked and not dropped */
	int evict_at;                   /* n_live from which the oldest head goes */
	double grace, rate;
	pthread_t sweeper;
	bool sweeping, sweep_stop;
};

/* http_conn.c: deadlines (the sweep thread, the reserve). */
void http_deadlines_init(struct http_server *srv);
void http_deadlines_start(struct http_server *srv);
void http_deadlines_stop(struct http_server *srv);
void http_on_connection(void *cls, struct MHD_Connection *mc,
    void **socket_context, enum MHD_ConnectionNotificationCode toe);
void http_track_set(struct http_server *srv, struct MHD_Connection *mc,
    enum http_phase ph, unsigned long long n, bool add);

/* http_auth.c */
const char *http_authenticate(struct app *app, const struct http_conn *c,
    bool open, bool *ok, unsigned *scopes);
const char *http_browser_refusal(struct app *app, const struct http_conn *c,
    const struct api_route *rt, bool anonymous);

/* http_send.c */
bool http_held_full(void);
void http_answer_busy(struct api_resp *r);
enum MHD_Result http_send_resp(struct http_server *srv,
    struct MHD_Connection *mc, const struct http_conn *c, struct api_resp *r,
    const char *method);
bool http_park(struct http_server *srv, struct MHD_Connection *mc,
    struct http_conn *c, const struct api_resp *r);
enum MHD_Result http_send_stream(struct http_server *srv,
    struct MHD_Connection *mc, const struct http_conn *c, struct api_resp *r);

/* http_offload.c */
void http_offload_init(struct http_server *srv, int max_threads);
void http_offload_stop(struct http_server *srv);
void http_job_free(struct http_job *j);
bool http_offload(struct http_server *srv, struct MHD_Connection *mc,
    struct http_conn *c, const char *method, const char *url,
    const char *query, bool query_too_long);

/* http_log.c */
void http_access_log(struct app *app, const struct http_conn *c,
    const char *method, const char *path, const char *query,
    const char *route, int status, size_t bytes, const char *who);

#endif
