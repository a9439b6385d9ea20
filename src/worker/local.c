/* local.c - POKY_LOCAL_ROOT mode: buckets are directories ROOT/<bucket>/.
 *
 * Paths are walked one segment at a time with openat(O_NOFOLLOW), so no
 * key and no symbolic link can lead outside the bucket.  The copy goes to a
 * temporary file in the destination directory, which is fsynced, renamed
 * over the final name and followed by an fsync of the directory: the final
 * name only ever shows a complete file.  A move unlinks the source only
 * after that, and only if it is still the file that was copied. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "poky/crypto.h"
#include "poky/log.h"
#include "poky/str.h"
#include "poky/uuid.h"
#include "stop.h"
#include "strategy.h"

#define COPY_CHUNK (1u << 20)

static int
errno_exit(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return WK_EXIT_NOTFOUND;
	case EACCES:
	case EPERM:
		return WK_EXIT_DENIED;
	case ELOOP:
		return WK_EXIT_USAGE;           /* a symbolic link on the way */
	default:
		return WK_EXIT_FAILED;
	}
}

static int
fail_errno(struct wk_error *err, int e, const char *what, const char *bucket,
	   const char *key)
{
	return wk_fail(err, errno_exit(e), "%s %s/%s: %s%s", what, bucket, key,
	    strerror(e), e == ELOOP ? " (symbolic links are not followed)" : "");
}

/* Open the directory that holds key's last segment, under dirfd (the
 * bucket), creating missing directories when create is set.  *base points
 * at the last segment.  Returns an fd or -1 with errno. */
static int
open_parent(int bucketfd, const char *key, bool create, const char **base)
{
	char seg[256];
	const char *p = key, *slash;
	int fd = dup(bucketfd);

	while (fd >= 0 && (slash = strchr(p, '/')) != NULL) {
		size_t n = (size_t)(slash - p);
		int next;

		/* wk_local_key_ok already refused empty, '.', '..' and long
		 * segments. */
		memcpy(seg, p, n);
		seg[n] = '\0';
		if (create && mkdirat(fd, seg, 0755) == 0) {
			/* A new directory lasts only once its parent is synced. */
			if (fsync(fd) != 0)
				log_debug("fsync of a parent directory: %s", strerror(errno));
		} else if (create && errno != EEXIST) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*base = p;
	return fd;
}

static int
open_bucket(int rootfd, const char *bucket)
{
	return openat(rootfd, bucket, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static bool
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

struct local_copy {
	int rootfd, srcdir, src, dstdir, tmp;
	const char *src_base, *dst_base;
	char tmp_name[64];
	struct stat st;                 /* the source when opened */
	bool in_cleanup;
};

/* Copy the bytes, hashing them; a short read means the source shrank. */
static int
copy_bytes(struct local_copy *lc, const struct wk_params *p,
	   struct wk_result *res, struct wk_error *err)
{
	struct crypto_md5 *md = crypto_md5_new();
	unsigned char digest[CRYPTO_MD5_LEN];
	char hex[33];
	char *buf = malloc(COPY_CHUNK);
	int64_t total = 0;
	int rc = WK_EXIT_OK, sig;

	if (md == NULL || buf == NULL) {
		rc = wk_fail(err, WK_EXIT_FAILED, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n;

		if ((sig = wk_stopping()) != 0) {
			rc = wk_fail_stopped(err, sig, "the partial copy was removed");
			goto out;
		}
		n = read(lc->src, buf, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fail_errno(err, errno, "cannot read", p->src_bucket, p->src_key);
			goto out;
		}
		if (n == 0)
			break;
		if (!write_all(lc->tmp, buf, (size_t)n)) {
			rc = wk_fail(err, WK_EXIT_FAILED,
			    "cannot write the copy in bucket %s: %s", p->dst_bucket,
			    strerror(errno));
			goto out;
		}
		crypto_md5_update(md, buf, (size_t)n);
		total += n;
	}
	if (total != (int64_t)lc->st.st_size) {
		rc = wk_fail(err, WK_EXIT_VERIFY,
		    "the source changed during the copy: read %lld bytes, expected %lld",
		    (long long)total, (long long)lc->st.st_size);
		goto out;
	}
	if (crypto_md5_final(md, digest) != POKY_OK) {
		rc = wk_fail(err, WK_EXIT_FAILED, "MD5 failed");
		goto out;
	}
	str_hex(hex, digest, 16);
	snprintf(res->etag, sizeof(res->etag), "\"%s\"", hex);
	res->bytes = total;
out:
	crypto_md5_free(md);
	free(buf);
	return rc;
}

/* The open source has not been written to since we opened it. */
static bool
source_fd_unchanged(const struct local_copy *lc)
{
	struct stat now;

	return fstat(lc->src, &now) == 0 && now.st_size == lc->st.st_size &&
	    now.st_mtim.tv_sec == lc->st.st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == lc->st.st_mtim.tv_nsec;
}

/* ... and its name still leads to it: safe to unlink.  False for a
 * source never opened (no name yet). */
static bool
source_path_same(const struct local_copy *lc)
{
	struct stat at;

	return lc->src_base != NULL && source_fd_unchanged(lc) &&
	    fstatat(lc->srcdir, lc->src_base, &at, AT_SYMLINK_NOFOLLOW) == 0 &&
	    at.st_dev == lc->st.st_dev && at.st_ino == lc->st.st_ino;
}

static int
make_temp(struct local_copy *lc, const struct wk_params *p, struct wk_error *err)
{
	char uuid[WK_UUID_LEN + 1];

	if (uuid_v4(uuid) != POKY_OK)
		return wk_fail(err, WK_EXIT_FAILED, "no random numbers for a temporary name");
	snprintf(lc->tmp_name, sizeof(lc->tmp_name), ".poky-tmp-%s", uuid);
	lc->tmp = openat(lc->dstdir, lc->tmp_name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lc->tmp < 0) {
		lc->tmp_name[0] = '\0';
		return fail_errno(err, errno, "cannot create a temporary file in",
		    p->dst_bucket, p->dst_key);
	}
	/* The copy gets the source's permission bits, not the umask's. */
	if (fchmod(lc->tmp, lc->st.st_mode & 0777) != 0)
		log_debug("fchmod: %s", strerror(errno));
	return WK_EXIT_OK;
}

/* The source: root, bucket, directories, file - each opened below the one
 * before, so no path component is looked up twice. */
static int
open_source(struct local_copy *lc, const struct wk_params *p,
	    struct wk_error *err)
{
	int bucketfd;

	lc->rootfd = open(p->local_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lc->rootfd < 0)
		return wk_fail(err, WK_EXIT_USAGE, "POKY_LOCAL_ROOT %s: %s",
		    p->local_root, strerror(errno));
	if ((bucketfd = open_bucket(lc->rootfd, p->src_bucket)) < 0)
		return wk_fail(err, errno_exit(errno), "source bucket %s: %s",
		    p->src_bucket, strerror(errno));
	lc->srcdir = open_parent(bucketfd, p->src_key, false, &lc->src_base);
	close(bucketfd);
	if (lc->srcdir >= 0)
		lc->src = openat(lc->srcdir, lc->src_base,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (lc->srcdir < 0 || lc->src < 0)
		return errno == ENOENT || errno == ENOTDIR ?
		    wk_fail(err, WK_EXIT_NOTFOUND, "source s3://%s/%s not found",
		    p->src_bucket, p->src_key) :
		    fail_errno(err, errno, "cannot open source", p->src_bucket, p->src_key);
	if (fstat(lc->src, &lc->st) != 0 || !S_ISREG(lc->st.st_mode))
		return wk_fail(err, WK_EXIT_NOTFOUND,
		    "source s3://%s/%s is not a regular file", p->src_bucket, p->src_key);
	return WK_EXIT_OK;
}

/* The destination bucket must exist, as in S3; its directories need not. */
static int
open_destination(struct local_copy *lc, const struct wk_params *p,
		 struct wk_error *err)
{
	int bucketfd;

	if ((bucketfd = open_bucket(lc->rootfd, p->dst_bucket)) < 0)
		return wk_fail(err, errno_exit(errno), "output bucket %s: %s",
		    p->dst_bucket, strerror(errno));
	lc->dstdir = open_parent(bucketfd, p->dst_key, true, &lc->dst_base);
	close(bucketfd);
	if (lc->dstdir < 0)
		return fail_errno(err, errno, "cannot make the directories of",
		    p->dst_bucket, p->dst_key);
	return WK_EXIT_OK;
}

/* Copy into a temporary file and rename it over the destination, inside
 * the cleanup window: a stop or a failure leaves no partial file (the
 * caller's cleanup removes the temporary file and leaves the window). */
static int
write_copy(struct local_copy *lc, const struct wk_params *p,
	   struct wk_result *res, struct wk_error *err)
{
	int rc;

	if (!wk_cleanup_enter())
		return wk_fail_stopped(err, wk_stopping(), "nothing was copied");
	lc->in_cleanup = true;
	if ((rc = make_temp(lc, p, err)) != WK_EXIT_OK ||
	    (rc = copy_bytes(lc, p, res, err)) != WK_EXIT_OK)
		return rc;
	if (fsync(lc->tmp) != 0)
		return wk_fail(err, WK_EXIT_FAILED, "fsync of the copy failed: %s",
		    strerror(errno));
	if (!source_fd_unchanged(lc))
		return wk_fail(err, WK_EXIT_VERIFY,
		    "the source changed during the copy; nothing was written");
	if (renameat(lc->dstdir, lc->tmp_name, lc->dstdir, lc->dst_base) != 0)
		return fail_errno(err, errno, "cannot rename the copy to",
		    p->dst_bucket, p->dst_key);
	lc->tmp_name[0] = '\0';         /* it has its final name now */
	if (fsync(lc->dstdir) != 0)
		log_debug("fsync of the output directory: %s", strerror(errno));
	wk_cleanup_leave();
	lc->in_cleanup = false;
	log_debug("copied %lld bytes", (long long)res->bytes);
	return WK_EXIT_OK;
}

/* A move: delete the source, unless its path no longer names the file
 * that was copied. */
static int
delete_source(struct local_copy *lc, struct wk_error *err)
{
	int sig;

	if ((sig = wk_stopping()) != 0)
		return wk_fail_stopped(err, sig, "copied, source not deleted");
	if (!source_path_same(lc))
		return wk_fail(err, WK_EXIT_NOT_MOVED,
		    "copied, but not moved: the source changed or vanished after the copy");
	if (unlinkat(lc->srcdir, lc->src_base, 0) != 0)
		return wk_fail(err, WK_EXIT_NOT_MOVED,
		    "copied, but not moved: cannot delete the source: %s", strerror(errno));
	if (fsync(lc->srcdir) != 0)
		log_debug("fsync of the source directory: %s", strerror(errno));
	return WK_EXIT_OK;
}

static void
local_copy_cleanup(struct local_copy *lc)
{
	if (lc->tmp >= 0)
		close(lc->tmp);
	if (lc->tmp_name[0] != '\0' && unlinkat(lc->dstdir, lc->tmp_name, 0) != 0)
		log_warnx("cannot remove the temporary file %s: %s", lc->tmp_name,
		    strerror(errno));
	if (lc->in_cleanup)
		wk_cleanup_leave();
	if (lc->src >= 0)
		close(lc->src);
	if (lc->srcdir >= 0)
		close(lc->srcdir);
	if (lc->dstdir >= 0)
		close(lc->dstdir);
	if (lc->rootfd >= 0)
		close(lc->rootfd);
}

int
wk_run_local(const struct wk_params *p, struct wk_result *res, struct wk_error *err)
{
	struct local_copy lc = { .rootfd = -1, .srcdir = -1, .src = -1,
		.dstdir = -1, .tmp = -1 };
	int rc;

	res->strategy = "local";
	if ((rc = open_source(&lc, p, err)) == WK_EXIT_OK &&
	    (rc = open_destination(&lc, p, err)) == WK_EXIT_OK &&
	    (rc = write_copy(&lc, p, res, err)) == WK_EXIT_OK && p->move)
		rc = delete_source(&lc, err);
	local_copy_cleanup(&lc);
	return rc;
}
