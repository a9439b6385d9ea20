/* localfs.c - see localfs.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "poky/localfs.h"

/* One segment below dirfd, without following a link; -1 when not there. */
static int
step(int dirfd, const char *seg, size_t n, bool dir)
{
	char name[256];

	if (n == 0 || n >= sizeof(name))
		return -1;
	memcpy(name, seg, n);
	name[n] = '\0';
	return openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK | (dir ? O_DIRECTORY : 0));
}

bool
localfs_exists(const char *root, const char *bucket, const char *key)
{
	struct stat st;
	const char *p;
	int fd, next;
	bool ok;

	if ((fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return false;
	next = step(fd, bucket, strlen(bucket), true);
	close(fd);
	if ((fd = next) < 0)
		return false;
	for (p = key; p != NULL && strchr(p, '/') != NULL; p = strchr(p, '/') + 1) {
		next = step(fd, p, (size_t)(strchr(p, '/') - p), true);
		close(fd);
		if ((fd = next) < 0)
			return false;
	}
	if (p != NULL) {
		next = step(fd, p, strlen(p), false);
		close(fd);
		if ((fd = next) < 0)
			return false;
	}
	ok = fstat(fd, &st) == 0 && (key ? S_ISREG(st.st_mode) : S_ISDIR(st.st_mode));
	close(fd);
	return ok;
}
