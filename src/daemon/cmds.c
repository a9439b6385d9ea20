/* cmds.c - pokyd's one-shot commands: they do their job and exit, and
 * start nothing of the daemon (main.c dispatches to them from its flags).
 * Each returns the process's exit status and reports on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

#include "poky/auth.h"
#include "poky/config.h"
#include "poky/store.h"

#include "cmds.h"
#include "iam.h"

int
pokyd_cmd_hash_token(const char *name)
{
	char tok[AUTH_TOKEN_MAX + 2], line[AUTH_NAME_MAX + 80];
	struct poky_error e;
	size_t n;

	if (fgets(tok, sizeof(tok), stdin) == NULL) {
		fprintf(stderr, "pokyd: no token on stdin\n");
		return 2;
	}
	n = strcspn(tok, "\r\n");
	tok[n] = '\0';
	if (auth_hash_line(name, tok, n, line, sizeof(line), &e) != POKY_OK) {
		fprintf(stderr, "pokyd: %s\n", e.message);
		return 2;
	}
	puts(line);
	return 0;
}

/* A new random token for NAME: its hashed line is appended to FILE (made 0600
 * when absent, so a root-owned tokens file stays root's), the token itself goes
 * to stdout once and is not kept anywhere. */
int
pokyd_cmd_init(const char *path, const char *name)
{
	unsigned char raw[32];
	char tok[2 * sizeof(raw) + 1], line[AUTH_NAME_MAX + 80];
	struct poky_error e;
	size_t n;
	int fd, status = 1;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		fprintf(stderr, "pokyd: no random bytes: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(tok + 2 * i, 3, "%02x", raw[i]);
	if (auth_hash_line(name, tok, strlen(tok), line, sizeof(line), &e) != POKY_OK) {
		fprintf(stderr, "pokyd: %s\n", e.message);
		status = 2;
		goto out;
	}
	n = strlen(line);
	line[n++] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "pokyd: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (write(fd, line, n) != (ssize_t)n || fsync(fd) != 0) {
		fprintf(stderr, "pokyd: %s: %s\n", path, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) != 0) {
		fprintf(stderr, "pokyd: %s: %s\n", path, strerror(errno));
		goto out;
	}
	printf("%s\n", tok);
	fprintf(stderr, "pokyd: token '%s' added to %s; it is shown only this once "
	    "(send it as 'Authorization: Bearer TOKEN')\n", name, path);
	status = 0;
out:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(tok, sizeof(tok));
	return status;
}

/* --print-iam-policy: the policy iam.c makes from its table of calls;
 * --print-iam-calls: that table, resolved for the configuration (tests). */
int
pokyd_cmd_print_iam(const struct config *cfg, bool calls)
{
	struct poky_error e = { 0 };
	json_t *doc = calls ? iam_calls(cfg, &e) : iam_policy(cfg, &e);
	char *text;

	if (doc == NULL) {
		fprintf(stderr, "pokyd: %s\n", e.message);
		return 1;
	}
	if (!calls && json_array_size(json_object_get(doc, "Statement")) == 0) {
		fprintf(stderr, "pokyd: no template calls AWS: no AWS permissions "
		    "needed\n");
		json_decref(doc);
		return 0;
	}
	text = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	if (text == NULL) {
		fprintf(stderr, "pokyd: out of memory\n");
		return 1;
	}
	puts(text);
	free(text);
	return 0;
}

/* --backup: only state_dir is needed, so the configuration is not checked
 * further (tokens, listen) than loading it. */
int
pokyd_cmd_backup(const char *cfg_path, const char *out, bool force)
{
	struct config *cfg = NULL;
	struct store_backup_stats st;
	struct poky_error e = { 0 };

	if (config_load(cfg_path, &cfg, &e) != POKY_OK ||
	    store_backup(cfg->server.state_dir, out, force, &st, &e) != POKY_OK) {
		fprintf(stderr, "pokyd: backup failed: %s\n", e.message);
		config_free(cfg);
		return 1;
	}
	printf("backup: %s: %d pages in %d steps (%d restarts)\n", out, st.pages,
	    st.steps, st.restarts);
	config_free(cfg);
	return 0;
}
