/* healthcheck.c - poky-healthcheck: the pokyd image's HEALTHCHECK probe.
 *
 *   poky-healthcheck [http://HOST:PORT/PATH]   (default http://127.0.0.1:8080/healthz)
 *
 * One GET over plain HTTP to a numeric IPv4 or [IPv6] address; exit 0 when the
 * answer's status is 200, 1 otherwise (no answer, another status, timeout).
 * The image has no shell and no curl: this is the whole probe.  It resolves no
 * names (no NSS, no DNS) and gives up after 5 seconds. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_URL "http://127.0.0.1:8080/healthz"
#define TIMEOUT_S 5

static int
fail(const char *what, const char *detail)
{
	fprintf(stderr, "poky-healthcheck: %s%s%s\n", what, detail ? ": " : "",
	    detail ? detail : "");
	return 1;
}

/* "http://127.0.0.1:8080/healthz" or "http://[::1]:8080/healthz" */
static int
parse_url(const char *url, struct sockaddr_storage *ss, socklen_t *len,
	  char *host, size_t host_len, const char **path)
{
	const char *p, *end, *colon;
	char *port_end;
	long port;
	size_t n;

	if (strncmp(url, "http://", 7) != 0)
		return -1;
	p = url + 7;
	if (*p == '[') {
		end = strchr(p, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		n = (size_t)(end - p - 1);
		if (n == 0 || n >= host_len)
			return -1;
		memcpy(host, p + 1, n);
		colon = end + 1;
	} else {
		colon = strchr(p, ':');
		if (colon == NULL)
			return -1;
		n = (size_t)(colon - p);
		if (n == 0 || n >= host_len)
			return -1;
		memcpy(host, p, n);
	}
	host[n] = '\0';
	errno = 0;
	port = strtol(colon + 1, &port_end, 10);
	if (errno != 0 || port_end == colon + 1 || port < 1 || port > 65535 ||
	    (*port_end != '/' && *port_end != '\0'))
		return -1;
	*path = *port_end == '/' ? port_end : "/";
	if (strlen(*path) > 1024 || strpbrk(*path, " \r\n") != NULL)
		return -1;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((unsigned short)port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	const char *url = argc > 1 ? argv[1] : DEFAULT_URL, *path = NULL;
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char host[64], req[1200], resp[64];
	size_t got = 0;
	int fd, n, status;

	if (argc > 2 || parse_url(url, &ss, &len, host, sizeof(host), &path) != 0) {
		fprintf(stderr, "usage: poky-healthcheck [http://ADDRESS:PORT/PATH]\n"
		    "  (a numeric IPv4 or [IPv6] address; default " DEFAULT_URL ")\n");
		return 2;
	}
	/* Whatever hangs (connect, a silent server) ends here: SIGALRM's
	 * default action kills the probe, which counts as unhealthy. */
	signal(SIGPIPE, SIG_IGN);
	alarm(TIMEOUT_S);

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket", strerror(errno));
	if (connect(fd, (struct sockaddr *)&ss, len) != 0)
		return fail(url, strerror(errno));
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s%s%s\r\n"
	    "User-Agent: poky-healthcheck\r\nConnection: close\r\n\r\n", path,
	    strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		return fail("request too long", NULL);
	for (int off = 0; off < n;) {
		ssize_t w = send(fd, req + off, (size_t)(n - off), 0);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return fail("send", strerror(errno));
		off += (int)w;
	}
	/* Only the status line matters: "HTTP/1.1 200 OK". */
	while (got < sizeof(resp) - 1 && memchr(resp, '\n', got) == NULL) {
		ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.%*[01] %3d", &status) != 1)
		return fail(url, "no HTTP answer");
	if (status != 200) {
		char s[8];

		snprintf(s, sizeof(s), "%d", status);
		return fail(url, s);
	}
	return 0;
}
