/* profile.c - the AWS shared config and credentials files (see profile.h).
 *
 * Below the credentials providers and the client: it reads files and the
 * environment and calls nobody that talks to AWS, so the client can ask it
 * for a region while the providers (some of which call STS through a
 * client) ask it for profile sections. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "poky/awsini.h"
#include "poky/crypto.h"
#include "poky/log.h"
#include "poky/profile.h"
#include "poky/str.h"

const char *
profile_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

enum poky_err
profile_read_file(const char *path, size_t max, struct buf *out,
		struct poky_error *e)
{
	enum poky_err rc = POKY_OK;
	char chunk[4096];
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		rc = err == ENOENT || err == ENOTDIR ? POKY_ERR_NOTFOUND :
		    POKY_ERR_IO;
		poky_error_set(e, rc, "%s: %s", path, strerror(err));
		if (e != NULL && rc == POKY_ERR_IO)
			e->sys_errno = err;
		return rc;
	}
	if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
		rc = poky_error_set(e, POKY_ERR_IO, "%s: not a readable file", path);
		goto out;
	}
	/* Size the buffer once, so a secret is not left behind in the blocks
	 * that growing it would free. */
	if (S_ISREG(st.st_mode) && st.st_size > 0 && (size_t)st.st_size <= max &&
	    buf_reserve(out, (size_t)st.st_size) == POKY_ERR_NOMEM) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t got = read(fd, chunk, sizeof(chunk));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = poky_error_set(e, POKY_ERR_IO, "%s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		if ((size_t)got > max - out->len ||
		    (rc = buf_append(out, chunk, (size_t)got)) == POKY_ERR_LIMIT) {
			rc = poky_error_set(e, POKY_ERR_LIMIT,
			    "%s: larger than %zu bytes", path, max);
			goto out;
		}
		if (rc != POKY_OK) {
			rc = poky_error_set(e, rc, "out of memory");
			goto out;
		}
	}
	if (out->data == NULL && buf_reserve(out, 0) != POKY_OK)
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
out:
	crypto_wipe(chunk, sizeof(chunk));
	close(fd);
	return rc;
}

enum poky_err
profile_expand_home(const char *path, char *out, size_t cap,
		  struct poky_error *e)
{
	const char *home = NULL;
	struct passwd pw, *res = NULL;
	char pwbuf[4096];

	if (path[0] != '~' || (path[1] != '/' && path[1] != '\0')) {
		if (!str_copy(out, cap, path))
			return poky_error_set(e, POKY_ERR_LIMIT, "path too long");
		return POKY_OK;
	}
	home = profile_env("HOME");
	if (home == NULL && getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf),
	    &res) == 0 && res != NULL)
		home = pw.pw_dir;
	if (home == NULL)
		return poky_error_set(e, POKY_ERR_NOTFOUND,
		    "no home directory for %s", path);
	if ((size_t)snprintf(out, cap, "%s%s", home, path + 1) >= cap)
		return poky_error_set(e, POKY_ERR_LIMIT, "path too long");
	return POKY_OK;
}

static enum poky_err
profile_path(const char *var, const char *def, char *out, size_t cap,
	     struct poky_error *e)
{
	const char *v = profile_env(var);

	return profile_expand_home(v != NULL ? v : def, out, cap, e);
}

/* Parse one file; a file that does not exist is an empty one. */
static enum poky_err
profile_load(const char *path, struct awsini **ini, struct poky_error *e)
{
	struct buf b;
	struct poky_error pe;
	enum poky_err rc;

	*ini = NULL;
	buf_init(&b, AWSINI_MAX_BYTES);
	rc = profile_read_file(path, AWSINI_MAX_BYTES, &b, e);
	if (rc == POKY_ERR_NOTFOUND) {
		rc = POKY_OK;
		goto out;
	}
	if (rc != POKY_OK)
		goto out;
	if ((rc = awsini_parse(b.data, b.len, ini, &pe)) != POKY_OK)
		poky_error_set(e, rc, "%s: %s", path, pe.message);
out:
	buf_free_secure(&b);
	return rc;
}

void
profile_files_free(struct profile_files *f)
{
	awsini_free(f->cred);
	awsini_free(f->conf);
	f->cred = f->conf = NULL;
}

enum poky_err
profile_files_load(struct profile_files *f, bool want_cred,
		   struct poky_error *e)
{
	enum poky_err rc;

	memset(f, 0, sizeof(*f));
	if ((rc = profile_path("AWS_CONFIG_FILE", "~/.aws/config", f->conf_path,
	    sizeof(f->conf_path), e)) != POKY_OK ||
	    (rc = profile_load(f->conf_path, &f->conf, e)) != POKY_OK)
		goto fail;
	if (!want_cred)
		return POKY_OK;
	if ((rc = profile_path("AWS_SHARED_CREDENTIALS_FILE",
	    "~/.aws/credentials", f->cred_path, sizeof(f->cred_path), e)) !=
	    POKY_OK ||
	    (rc = profile_load(f->cred_path, &f->cred, e)) != POKY_OK)
		goto fail;
	return POKY_OK;
fail:
	profile_files_free(f);
	return rc;
}

/* The path as a person would write it: "~/.aws/config" under $HOME. */
const char *
profile_show(const char *path, char *out, size_t cap)
{
	const char *home = profile_env("HOME");
	size_t n = home != NULL ? strlen(home) : 0;

	if (n > 1 && strncmp(path, home, n) == 0 && path[n] == '/' &&
	    (size_t)snprintf(out, cap, "~%s", path + n) < cap)
		return out;
	return path;
}

bool
profile_open(const struct profile_files *f, const char *name,
	     struct profile *p)
{
	p->f = f;
	p->name = name;
	p->cred_sec = awsini_profile_section(f->cred, AWSINI_CREDENTIALS, name);
	p->conf_sec = awsini_profile_section(f->conf, AWSINI_CONFIG, name);
	return p->cred_sec != NULL || p->conf_sec != NULL;
}

/* A key's value, the credentials file first; "" counts as absent. */
const char *
profile_get(const struct profile *p, const char *key)
{
	const char *v = awsini_get(p->f->cred, p->cred_sec, key);

	if (v == NULL || v[0] == '\0')
		v = awsini_get(p->f->conf, p->conf_sec, key);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Region names go into host names: letters, digits and '-' only. */
static bool
region_ok(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') ||
		    r[i] == '-'))
			return false;
	return true;
}

void
profile_region(const char *profile, char *out, size_t cap)
{
	static const char *const vars[] = { "AWS_REGION", "AWS_DEFAULT_REGION" };
	struct profile_files f;
	struct poky_error pe;
	const char *sec, *v;

	if (cap == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if ((v = profile_env(vars[i])) == NULL)
			continue;
		if (region_ok(v) && str_copy(out, cap, v))
			return;
		log_warnx("ignoring %s: not a region name", vars[i]);
		out[0] = '\0';
	}
	if (profile == NULL || profile[0] == '\0')
		profile = profile_env("AWS_PROFILE");
	if (profile == NULL)
		profile = "default";
	if (profile_files_load(&f, false, &pe) != POKY_OK) {
		log_warnx("no region from the config file: %s", pe.message);
		return;
	}
	sec = awsini_profile_section(f.conf, AWSINI_CONFIG, profile);
	v = awsini_get(f.conf, sec, "region");
	if (v != NULL && v[0] != '\0') {
		if (region_ok(v) && str_copy(out, cap, v))
			goto out;
		log_warnx("ignoring region of profile \"%.64s\" in %s: not a "
		    "region name", profile, f.conf_path);
		out[0] = '\0';
	}
out:
	profile_files_free(&f);
}
