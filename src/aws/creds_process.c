/* creds_process.c - a profile's credential_process: run a program, read
 * credentials from its stdout as JSON.
 *
 * The command is split like Python's shlex.split (botocore's behaviour) and
 * run without a shell.  It is started with posix_spawnp rather than fork and
 * execvp: the daemon is multi-threaded, and between fork and exec only
 * async-signal-safe calls are allowed (execvp's PATH search may allocate);
 * glibc's posix_spawnp is a vfork-like clone that reports exec failures
 * itself.  Descriptors other than 0-2 are closed in the child, so it never
 * inherits a connection or a credentials file. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "poky/clock.h"
#include "poky/crypto.h"
#include "creds_internal.h"

extern char **environ;

enum sh_state { SH_BLANK, SH_WORD, SH_SQUOTE, SH_DQUOTE, SH_ESCAPE };

static bool
sh_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

enum poky_err
creds_shlex_split(const char *cmd, char ***argv_out, size_t *argc_out,
		  struct poky_error *e)
{
	size_t len = strlen(cmd), max_args, n = 0;
	enum sh_state st = SH_BLANK, esc_from = SH_WORD;
	char **argv;
	char *w, *tok;

	*argv_out = NULL;
	*argc_out = 0;
	if (len > CREDS_PROCESS_MAX_COMMAND) {
		poky_error_set(e, POKY_ERR_LIMIT, "credential_process longer than %d",
		    CREDS_PROCESS_MAX_COMMAND);
		return POKY_ERR_LIMIT;
	}
	/* A word takes at least one character and a blank after it; the words
	 * need no more room than the command plus one NUL each. */
	max_args = len / 2 + 2;
	argv = calloc(1, max_args * sizeof(*argv) + 2 * len + 2);
	if (argv == NULL) {
		poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		return POKY_ERR_NOMEM;
	}
	w = tok = (char *)(argv + max_args);
	for (const char *p = cmd; *p != '\0'; p++) {
		char c = *p;

		switch (st) {
		case SH_BLANK:
		case SH_WORD:
			if (sh_blank(c)) {
				if (st == SH_WORD) {
					*w++ = '\0';
					argv[n++] = tok;
					tok = w;
				}
				st = SH_BLANK;
			} else if (c == '\\') {
				esc_from = SH_WORD;
				st = SH_ESCAPE;
			} else if (c == '\'') {
				st = SH_SQUOTE;
			} else if (c == '"') {
				st = SH_DQUOTE;
			} else {
				*w++ = c;
				st = SH_WORD;
			}
			break;
		case SH_SQUOTE:
			if (c == '\'')
				st = SH_WORD;
			else
				*w++ = c;
			break;
		case SH_DQUOTE:
			if (c == '"') {
				st = SH_WORD;
			} else if (c == '\\') {
				esc_from = SH_DQUOTE;
				st = SH_ESCAPE;
			} else {
				*w++ = c;
			}
			break;
		case SH_ESCAPE:
			/* Inside "...", only \" and \\ are escapes. */
			if (esc_from == SH_DQUOTE && c != '"' && c != '\\')
				*w++ = '\\';
			*w++ = c;
			st = esc_from;
			break;
		}
	}
	if (st == SH_SQUOTE || st == SH_DQUOTE || st == SH_ESCAPE) {
		free(argv);
		poky_error_set(e, POKY_ERR_INVALID, "credential_process: %s",
		    st == SH_ESCAPE ? "no character after '\\'" :
		    "no closing quotation");
		return POKY_ERR_INVALID;
	}
	if (st == SH_WORD) {
		*w = '\0';
		argv[n++] = tok;
	}
	if (n == 0 || n > CREDS_PROCESS_MAX_ARGS) {
		free(argv);
		poky_error_set(e, n ? POKY_ERR_LIMIT : POKY_ERR_INVALID,
		    "credential_process: %s", n ? "too many words" : "empty command");
		return n ? POKY_ERR_LIMIT : POKY_ERR_INVALID;
	}
	argv[n] = NULL;
	*argv_out = argv;
	*argc_out = n;
	return POKY_OK;
}

enum poky_err
creds_process_parse(const char *data, size_t n, const char *source,
		    struct aws_creds *out, struct poky_error *e)
{
	json_error_t jerr;
	json_t *j;
	const json_t *v;
	enum poky_err rc;

	creds_clear(out);
	/* jerr.text can quote the input, which holds the secret: only the
	 * position is reported. */
	j = json_loadb(data, n, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "credential_process: output is not JSON (line %d, column %d)",
		    jerr.line, jerr.column);
	if (!json_is_object(j)) {
		rc = poky_error_set(e, POKY_ERR_INVALID,
		    "credential_process: output is not a JSON object");
		goto out;
	}
	v = json_object_get(j, "Version");
	if (v == NULL) {
		rc = poky_error_set(e, POKY_ERR_INVALID,
		    "credential_process: no Version");
		goto out;
	}
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		rc = poky_error_set(e, POKY_ERR_INVALID,
		    "credential_process: Version is not 1");
		goto out;
	}
	rc = creds_from_json(j, source, "SessionToken", false,
	    "credential_process", out, e);
out:
	json_decref(j);
	return rc;
}

static long long
mono_ms(void)
{
	return (long long)(clock_mono() * 1000);
}

/* Read the child's stdout until EOF, the cap or the deadline. */
static enum poky_err
process_read(int fd, long timeout_ms, const char *name, struct buf *out,
	     struct poky_error *e)
{
	long long deadline = mono_ms() + timeout_ms;
	char chunk[4096];
	enum poky_err rc = POKY_OK;

	for (;;) {
		long long left = deadline - mono_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t got;
		int pr;

		if (left <= 0) {
			rc = poky_error_set(e, POKY_ERR_TRANSIENT,
			    "credential_process %.64s: no answer in %ld ms, killed",
			    name, timeout_ms);
			if (e != NULL)
				e->timeout = e->retryable = 1;
			break;
		}
		pr = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			rc = poky_error_set(e, POKY_ERR_IO, "poll: %s", strerror(errno));
			break;
		}
		if (pr == 0)
			continue;
		got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0) {
			rc = poky_error_set(e, POKY_ERR_IO,
			    "credential_process %.64s: read: %s", name,
			    strerror(errno));
			break;
		}
		if (got == 0)
			break;
		if (buf_append(out, chunk, (size_t)got) != POKY_OK) {
			rc = poky_error_set(e, POKY_ERR_LIMIT,
			    "credential_process %.64s: more than %u bytes of output, "
			    "killed", name, CREDS_PROCESS_MAX_OUTPUT);
			break;
		}
	}
	crypto_wipe(chunk, sizeof(chunk));
	return rc;
}

enum poky_err
creds_process_run(const char *cmd, long timeout_ms, const char *source,
		  struct aws_creds *out, struct poky_error *e)
{
	posix_spawn_file_actions_t fa;
	struct buf output;
	char **argv = NULL;
	size_t argc = 0;
	int pfd[2] = { -1, -1 }, status = 0, err;
	pid_t pid = -1;
	bool fa_ok = false;
	enum poky_err rc;

	creds_clear(out);
	buf_init(&output, CREDS_PROCESS_MAX_OUTPUT);
	if (timeout_ms <= 0)
		timeout_ms = CREDS_PROCESS_TIMEOUT_MS;
	if ((rc = creds_shlex_split(cmd, &argv, &argc, e)) != POKY_OK)
		goto out;
	/* All of it at once: growing would leave pieces of secrets behind. */
	if (buf_reserve(&output, CREDS_PROCESS_MAX_OUTPUT) != POKY_OK) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		rc = poky_error_set(e, POKY_ERR_IO, "pipe: %s", strerror(errno));
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto out;
	}
	fa_ok = true;
	err = posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	if (err == 0)
		err = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	if (err == 0)
		err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	if (err != 0) {
		pid = -1;
		rc = poky_error_set(e, POKY_ERR_IO,
		    "credential_process: cannot run %.64s: %s", argv[0],
		    strerror(err));
		goto out;
	}
	close(pfd[1]);
	pfd[1] = -1;
	rc = process_read(pfd[0], timeout_ms, argv[0], &output, e);
	if (rc != POKY_OK)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			/* SIGCHLD ignored by the program: no status to judge by,
			 * so the output alone decides. */
			status = 0;
			break;
		}
	}
	pid = -1;
	if (rc != POKY_OK)
		goto out;
	if (WIFSIGNALED(status)) {
		rc = poky_error_set(e, POKY_ERR_IO,
		    "credential_process %.64s: killed by signal %d", argv[0],
		    WTERMSIG(status));
		goto out;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		rc = poky_error_set(e, POKY_ERR_IO,
		    "credential_process %.64s: exit status %d", argv[0],
		    WEXITSTATUS(status));
		goto out;
	}
	rc = creds_process_parse(output.data ? output.data : "", output.len,
	    source, out, e);
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	buf_free_secure(&output);
	free(argv);
	return rc;
}
