/* http_offload.c - the offload pool: handlers that wait on the network
 * (r->defer) run on these threads while MHD keeps their connection
 * suspended, and resume it when the answer is ready. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "http_internal.h"

void
http_job_free(struct http_job *j)
{
	if (j == NULL)
		return;
	api_resp_cleanup(&j->r);
	free(j->method);
	free(j->url);
	free(j->query);
	free(j);
}

static void *
offload_thread(void *ud)
{
	struct http_server *srv = ud;

	pthread_mutex_lock(&srv->lock);
	for (;;) {
		struct http_job *j;
		struct api_req req;

		while (srv->jobs == NULL && !srv->stop) {
			srv->idle++;
			pthread_cond_wait(&srv->work, &srv->lock);
			srv->idle--;
		}
		if ((j = srv->jobs) == NULL)
			break;          /* stopping, and nothing left to answer */
		srv->jobs = j->next;
		if (srv->jobs == NULL)
			srv->jobs_tail = NULL;
		pthread_mutex_unlock(&srv->lock);
		http_answer(srv->app, j->c, j->method, j->url, j->query,
		    j->query_too_long, false, &req, &j->r);
		j->done = true;
		/* MHD calls on_request again, which sends j->r. */
		MHD_resume_connection(j->mc);
		pthread_mutex_lock(&srv->lock);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Suspend the connection and hand its request to an offload thread.
 * False when it can't be (no memory, no thread): answer 503 then. */
bool
http_offload(struct http_server *srv, struct MHD_Connection *mc,
	struct http_conn *c, const char *method, const char *url,
	const char *query, bool query_too_long)
{
	struct http_job *j = calloc(1, sizeof(*j));
	bool ok = false;

	if (j == NULL)
		return false;
	j->mc = mc;
	j->c = c;
	j->method = strdup(method);
	j->url = strdup(url);
	j->query = query ? strdup(query) : NULL;
	j->query_too_long = query_too_long;
	api_resp_init(&j->r);
	if (j->method == NULL || j->url == NULL || (query && j->query == NULL)) {
		http_job_free(j);
		return false;
	}
	pthread_mutex_lock(&srv->lock);
	if (srv->idle == 0 && srv->n_threads < srv->max_threads && !srv->stop) {
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, OFFLOAD_STACK);
		if (pthread_create(&srv->threads[srv->n_threads], &attr,
		    offload_thread, srv) == 0)
			srv->n_threads++;
		pthread_attr_destroy(&attr);
	}
	if (srv->n_threads > 0 && !srv->stop) {
		c->job = j;
		MHD_suspend_connection(mc);
		if (srv->jobs_tail != NULL)
			srv->jobs_tail->next = j;
		else
			srv->jobs = j;
		srv->jobs_tail = j;
		pthread_cond_signal(&srv->work);
		ok = true;
	}
	pthread_mutex_unlock(&srv->lock);
	if (!ok)
		http_job_free(j);
	return ok;
}

void
http_offload_init(struct http_server *srv, int max_threads)
{
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->work, NULL);
	srv->max_threads = max_threads > OFFLOAD_MAX_THREADS ?
	    OFFLOAD_MAX_THREADS : max_threads;
}

/* The threads answer what is queued and end; the lock stays (MHD may
 * still call in until it stops). */
void
http_offload_stop(struct http_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->stop = true;
	pthread_cond_broadcast(&srv->work);
	pthread_mutex_unlock(&srv->lock);
	for (int i = 0; i < srv->n_threads; i++)
		pthread_join(srv->threads[i], NULL);
}
