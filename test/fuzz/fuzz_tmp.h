/* fuzz_tmp.h - temporary files for the targets that need a path
 * (fuzz_config, fuzz_http_api).
 *
 * Names carry the process id, and each target first removes what a dead
 * process left: when a run stops on a crash, libFuzzer leaves with _Exit
 * (atexit handlers don't run), and the sanitizers' death callback is
 * libFuzzer's own (it writes the crashing input), so nothing else can. */
#ifndef POKY_FUZZ_TMP_H
#define POKY_FUZZ_TMP_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* tmpfs unless TMPDIR says otherwise: rewriting a file on ext4 flushes it
 * at close, and SQLite fsyncs; either costs more than what is fuzzed. */
static const char *
fuzz_tmpdir(void)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp != NULL && *tmp != '\0')
		return tmp;
	return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

static void
fuzz_remove_tree(const char *path)
{
	DIR *dh = opendir(path);
	struct dirent *de;
	char sub[4400];

	if (dh == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(dh)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		fuzz_remove_tree(sub);
	}
	closedir(dh);
	rmdir(path);
}

/* Remove dir/<prefix><pid>... entries whose process is gone. */
static void
fuzz_sweep(const char *dir, const char *prefix)
{
	size_t pl = strlen(prefix);
	DIR *dh = opendir(dir);
	struct dirent *de;
	char path[4400];

	if (dh == NULL)
		return;
	while ((de = readdir(dh)) != NULL) {
		char *end;
		long pid;

		if (strncmp(de->d_name, prefix, pl) != 0)
			continue;
		pid = strtol(de->d_name + pl, &end, 10);
		if (end == de->d_name + pl || pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fuzz_remove_tree(path);
	}
	closedir(dh);
}

#endif
