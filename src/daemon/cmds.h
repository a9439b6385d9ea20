/* cmds.h - pokyd's one-shot commands (cmds.c). */
#ifndef POKY_DAEMON_CMDS_H
#define POKY_DAEMON_CMDS_H

#include <stdbool.h>

struct config;

/* --hash-token [NAME]: the tokens_file line for the token on stdin. */
int pokyd_cmd_hash_token(const char *name);

/* --init FILE [NAME]: a new random token, its line appended to FILE. */
int pokyd_cmd_init(const char *path, const char *name);

/* --print-iam-policy (calls false) or --print-iam-calls (true). */
int pokyd_cmd_print_iam(const struct config *cfg, bool calls);

/* --backup OUT [--force]: an online copy of the task store. */
int pokyd_cmd_backup(const char *cfg_path, const char *out, bool force);

#endif
