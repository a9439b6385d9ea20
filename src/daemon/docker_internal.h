/* docker_internal.h - what the docker launcher's files share inside
 * src/daemon (the public API is in include/poky/launch.h).
 *
 *   docker_engine.c     the Engine API client: a connection over the
 *                       engine's unix or tcp socket, calls, JSON answers,
 *                       errors, image pulls
 *   docker_container.c  containers: the create body built from a template
 *                       and a task, start/kill/remove/inspect, the logs
 *                       stream (demultiplexed), saved or tailed; readiness
 *   docker_runner.c     the runner thread: records, starts, follows each
 *                       container (deadlines, cancels, restarts) to its end
 *   launch_docker.c     slots, submit/cancel, resume after a restart, and
 *                       the launcher_ops glue
 *
 * An engine (struct engine) is one connection, used by one thread at a
 * time.  The runner's slots are guarded by r->bg.lock. */
#ifndef POKY_DOCKER_INTERNAL_H
#define POKY_DOCKER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "poky/app.h"
#include "poky/bgthread.h"
#include "poky/err.h"
#include "poky/httpc.h"
#include "poky/launch.h"
#include "poky/templates.h"

#define DOCKER_API "/v1.41"
#define DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"
#define TICK_MS 500
#define MAX_SLOTS 4096
#define MAX_ENGINES 16
#define HOST_MAX 256
#define SUN_PATH_MAX 108                /* sizeof(sockaddr_un.sun_path) */
#define CID_MAX 80
#define CALL_TIMEOUT_MS 60000L
#define PULL_TIMEOUT_MS (30L * 60 * 1000)
#define LOGS_TIMEOUT_MS (5L * 60 * 1000)
#define ERROR_BODY_MAX (64u << 10)
#define PULL_LINE_MAX (64u << 10)
#define LOG_FILE_MAX ((off_t)256 << 20)
#define MAX_ARGS 64
#define RETRIES 8
#define WARN_EVERY 30.0                 /* seconds between repeated warnings */

/* ---- the engine client (docker_engine.c) ------------------------------- */

/* One connection to one engine.  Not thread-safe: one per thread. */
struct engine {
	struct httpc *h;
	const atomic_bool *cancel;      /* set: give up a pull (shutdown) */
	char host[HOST_MAX];            /* as configured, for messages */
	char base[HOST_MAX + 32];       /* URL up to and with the API version */
};

struct call {
	const char *method;
	const char *path;               /* after the API version, query included */
	const char *body;               /* JSON text, or NULL */
	long timeout_ms;                /* 0: CALL_TIMEOUT_MS */
	/* 2xx bodies streamed here instead of buffered. */
	int (*write)(void *ud, const char *p, size_t n);
	void *write_ud;
};

/* The engine of a template (its docker_host, else DOCKER_HOST, else the
 * usual socket) into out. */
void docker_host_of(const struct tmpl *t, char *out, size_t cap);
enum poky_err engine_open(struct engine *en, const char *host,
			  struct poky_error *e);
void engine_close(struct engine *en);
enum poky_err engine_call(struct engine *en, const struct call *c,
			  struct httpc_response *resp, struct poky_error *e);
enum poky_err engine_json(struct engine *en, const struct call *c, json_t **out,
			  struct poky_error *e);
enum poky_err engine_simple(struct engine *en, const char *method,
			    const char *path, const char *body, long timeout_ms,
			    struct poky_error *e);
enum poky_err engine_error_prefix(struct poky_error *e, enum poky_err rc,
				  const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum poky_err engine_image_ensure(struct engine *en, const struct tmpl *t,
				  struct poky_error *e);

/* ---- containers (docker_container.c) -------------------------------------- */

/* What GET /containers/{id}/json says about a container. */
struct seen {
	char status[32];                /* created, running, exited, ... */
	bool has_exit;
	int exit_code;
	bool oom;
	char error[POKY_ERR_MSG_MAX];
	char stop_signal[24];
	double started_at;              /* 0: never started */
};

enum poky_err engine_container_create(struct engine *en, const struct tmpl *t,
				      const struct task *task, char *cid,
				      size_t cap, struct poky_error *e);
enum poky_err engine_container_op(struct engine *en, const char *method,
				  const char *cid, const char *what,
				  struct poky_error *e);
enum poky_err engine_container_kill(struct engine *en, const char *cid,
				    const char *sig, struct poky_error *e);
void engine_container_remove(struct engine *en, const char *id,
			     const char *cid);
enum poky_err engine_container_by_label(struct engine *en, const char *id,
					char *cid, size_t cap,
					struct poky_error *e);
enum poky_err engine_container_inspect(struct engine *en, const char *cid,
				       struct seen *s, struct poky_error *e);
bool engine_status_ended(const char *st);
enum poky_err engine_logs_save(struct app *app, struct engine *en,
			       const char *id, const char *cid,
			       struct poky_error *e);

/* ---- the runner (docker_runner.c; slots in launch_docker.c) --------------- */

enum slot_state { SLOT_STARTING, SLOT_RUNNING };

/* A task that holds one of its template's max_running places: being
 * started by some thread (STARTING), or followed by the runner (RUNNING). */
struct slot {
	char id[TASK_ID_LEN + 1];
	char template_name[65];
	char host[HOST_MAX];
	char container[CID_MAX];        /* "" until known */
	enum slot_state state;
	bool remove;
	bool running_recorded;          /* the record says running */
	long kill_grace;
	long timeout;
	double deadline;                /* monotonic; 0: none */
	bool term_wanted;               /* cancel or timeout: stop it */
	bool timed_out;
	double term_at;                 /* monotonic time of the stop signal */
	bool kill_sent;
	double warned_at;               /* engine trouble last logged */
	char stop_signal[24];
};

struct docker_runner {
	struct app *app;
	struct bgthread bg;             /* its lock guards slots and n */
	struct slot *slots;
	size_t n;
	/* The runner thread's connections, one per engine: only it uses them. */
	struct engine engines[MAX_ENGINES];
	size_t n_engines;
	double start_warned_at;
};

/* Slots: called with r->bg.lock held, but docker_slot_drop, which takes
 * it. */
struct slot *docker_slot_find(struct docker_runner *r, const char *id);
size_t docker_slots_of(struct docker_runner *r, const char *tmpl);
void docker_slot_drop(struct docker_runner *r, const char *id);
struct slot *docker_slot_take(struct docker_runner *r, const struct tmpl *t,
			      const char *id, long timeout);

enum poky_err docker_start_task(struct docker_runner *r, struct engine *en,
				const struct tmpl *t, const char *id, bool hold,
				struct poky_error *e);
void *docker_runner_main(void *p);

#endif
