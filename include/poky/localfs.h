/* localfs.h - the local launcher's "bucket/key" existence check at submit,
 * read the way poky-worker reads it. */
#ifndef POKY_LOCALFS_H
#define POKY_LOCALFS_H

#include <stdbool.h>

/* Whether root/bucket is a directory (key NULL) or root/bucket/key a
 * regular file, walked one segment at a time without following a symbolic
 * link anywhere below root, as the worker opens it: a link (to anywhere
 * outside the root, or inside) is "does not exist", never an oracle. */
bool localfs_exists(const char *root, const char *bucket, const char *key);

#endif
