/* supervise.c - `pokyd --supervise`: the process that runs one local task.
 *
 * pokyd re-executes itself as
 *   pokyd --supervise ID LOG STATUS GRACE -- CMD [ARG...]
 * which starts CMD (execvp, no shell) in its own process group with
 * stdout/stderr appended to LOG, forwards SIGTERM (then SIGKILL after GRACE
 * seconds), and writes how CMD ended to STATUS atomically ("exit N",
 * "signal N" or "exec-error ERRNO").  The status file outlives pokyd, so a
 * restarted pokyd still learns how a task ended (launch_local.c reads it). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "poky/clock.h"
#include "poky/launch.h"

static volatile sig_atomic_t got_term;

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void
write_status(const char *path, const char *kind, int value)
{
	char tmp[PATH_MAX], line[64];
	int fd, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	n = snprintf(line, sizeof(line), "%s %d\n", kind, value);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) == n && fsync(fd) == 0) {
		close(fd);
		rename(tmp, path);
		return;
	}
	close(fd);
	unlink(tmp);
}

int
local_supervise_main(int argc, char **argv)
{
	/* pokyd --supervise ID LOG STATUS GRACE -- CMD [ARG...] */
	const char *logp, *statp;
	long grace;
	int errpipe[2], logfd, st = 0, err = 0;
	pid_t child;
	struct sigaction sa;
	sigset_t unblock;
	double term_at = 0;

	if (argc < 8 || strcmp(argv[6], "--") != 0) {
		fprintf(stderr, "pokyd --supervise: bad arguments\n");
		return 2;
	}
	logp = argv[3];
	statp = argv[4];
	grace = strtol(argv[5], NULL, 10);
	logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (logfd < 0 || pipe2(errpipe, O_CLOEXEC) != 0) {
		write_status(statp, "exec-error", errno);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sa.sa_flags = SA_RESTART;       /* the exec-error read below */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* pokyd started us with both blocked; one sent meanwhile is pending
	 * and lands in on_term now. */
	sigemptyset(&unblock);
	sigaddset(&unblock, SIGTERM);
	sigaddset(&unblock, SIGINT);
	sigprocmask(SIG_UNBLOCK, &unblock, NULL);
	child = fork();
	if (child < 0) {
		write_status(statp, "exec-error", errno);
		return 1;
	}
	if (child == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execvp(argv[7], argv + 7);
		err = errno;
		if (write(errpipe[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	setpgid(child, child);
	close(errpipe[1]);
	if (read(errpipe[0], &err, sizeof(err)) == (ssize_t)sizeof(err)) {
		/* The command could not start at all. */
		waitpid(child, NULL, 0);
		dprintf(logfd, "poky: cannot run '%s': %s\n", argv[7], strerror(err));
		write_status(statp, "exec-error", err);
		return 0;
	}
	for (;;) {
		pid_t w = waitpid(child, &st, WNOHANG);

		if (w == child)
			break;
		if (got_term && term_at == 0) {
			kill(-child, SIGTERM);
			term_at = clock_mono();
		}
		if (term_at > 0 && clock_mono() - term_at >= (double)grace)
			kill(-child, SIGKILL);
		usleep(20000);
	}
	if (WIFEXITED(st))
		write_status(statp, "exit", WEXITSTATUS(st));
	else
		write_status(statp, "signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return 0;
}
