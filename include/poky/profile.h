/* profile.h - the AWS shared config and credentials files: where they are,
 * their profile sections, and the region (L2, below the credentials
 * providers and the client; it never talks to AWS).
 *
 * Files: AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials, "[NAME]") and
 * AWS_CONFIG_FILE (~/.aws/config, "[profile NAME]"); a key in the
 * credentials file wins over the same key in the config file, as in
 * botocore.  A file that does not exist reads as an empty one. */
#ifndef POKY_PROFILE_H
#define POKY_PROFILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "poky/awsini.h"
#include "poky/buf.h"
#include "poky/err.h"

struct profile_files {
	struct awsini *cred, *conf;
	char cred_path[PATH_MAX], conf_path[PATH_MAX];
};

/* One profile's sections in both files (NULL where it has none). */
struct profile {
	const struct profile_files *f;
	const char *name;
	const char *cred_sec, *conf_sec;
};

/* Parse the config file (and the credentials file when want_cred) into *f;
 * profile_files_free releases them (also after an error). */
enum poky_err profile_files_load(struct profile_files *f, bool want_cred,
				 struct poky_error *e);
void profile_files_free(struct profile_files *f);

/* Find profile name in both files; false when neither has it. */
bool profile_open(const struct profile_files *f, const char *name,
		  struct profile *p);

/* A key's value, the credentials file first; "" counts as absent (NULL). */
const char *profile_get(const struct profile *p, const char *key);

/* The path as a person would write it ("~/.aws/config" under $HOME), into
 * out when it needs rewriting; returns out or path. */
const char *profile_show(const char *path, char *out, size_t cap);

/* The region from AWS_REGION, AWS_DEFAULT_REGION, then the profile's
 * "region" in the config file (profile NULL or "": AWS_PROFILE, else
 * "default"); "" if none of them has one.  A value that is not a region
 * name is ignored with a warning. */
void profile_region(const char *profile, char *out, size_t cap);

/* getenv, with "" read as unset. */
const char *profile_env(const char *name);

/* Read a whole file of at most max bytes into out (which the caller set up
 * with buf_init; wipe it with buf_free_secure when it may hold a secret).
 * POKY_ERR_NOTFOUND when it does not exist, POKY_ERR_LIMIT when larger,
 * POKY_ERR_IO otherwise.  Messages name the path. */
enum poky_err profile_read_file(const char *path, size_t max, struct buf *out,
				struct poky_error *e);

/* Expand a leading "~/" with $HOME (or the passwd entry). */
enum poky_err profile_expand_home(const char *path, char *out, size_t cap,
				  struct poky_error *e);

#endif
