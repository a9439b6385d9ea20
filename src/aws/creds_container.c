/* creds_container.c - the container credentials endpoint (ECS task roles,
 * EKS Pod Identity).
 *
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is a path on the ECS agent at
 * 169.254.170.2; AWS_CONTAINER_CREDENTIALS_FULL_URI is a whole URL, allowed
 * only where nobody else can listen: https, loopback, or the ECS/EKS link-
 * local addresses.  Otherwise a variable an attacker can set would send the
 * Authorization token, and take credentials, from anywhere.  The token file
 * is read on every request: EKS rotates it in place. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "poky/awsreq.h"
#include "poky/crypto.h"
#include "poky/httpc.h"
#include "poky/str.h"

#include "creds_internal.h"

#define CONTAINER_HOST "http://169.254.170.2"
#define CONTAINER_CONNECT_MS 2000
#define CONTAINER_TIMEOUT_MS 5000
#define CONTAINER_ATTEMPTS 2
#define CONTAINER_MAX_BODY (64u << 10)

static bool
container_v4_allowed(const struct in_addr *a)
{
	uint32_t h = ntohl(a->s_addr);

	return (h >> 24) == 127 ||                      /* 127.0.0.0/8 */
	    h == 0xA9FEAA02 ||                          /* 169.254.170.2 */
	    h == 0xA9FEAA17;                            /* 169.254.170.23 */
}

static bool
container_v6_allowed(const struct in6_addr *a)
{
	static const unsigned char eks[16] = {          /* fd00:ec2::23 */
		0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x23,
	};

	if (IN6_IS_ADDR_LOOPBACK(a) || memcmp(a->s6_addr, eks, 16) == 0)
		return true;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		struct in_addr v4;

		memcpy(&v4.s_addr, a->s6_addr + 12, 4);
		return (ntohl(v4.s_addr) >> 24) == 127;
	}
	return false;
}

/* A name is allowed only when every address it has is loopback: one public
 * address among them and curl might connect there.  curl resolves the name
 * again to connect, so a resolver that changes its answer in between could
 * still send the request elsewhere; every SDK shares that gap, and an address
 * or https closes it. */
static enum poky_err
container_name_allowed(const char *host, struct poky_error *e)
{
	struct addrinfo hints, *res = NULL;
	int rc, n = 0;
	bool ok = true;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "AWS_CONTAINER_CREDENTIALS_FULL_URI host %.64s: %s", host,
		    gai_strerror(rc));
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		n++;
		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *s = (const void *)ai->ai_addr;

			ok = ok && (ntohl(s->sin_addr.s_addr) >> 24) == 127;
		} else if (ai->ai_family == AF_INET6) {
			const struct sockaddr_in6 *s = (const void *)ai->ai_addr;

			ok = ok && IN6_IS_ADDR_LOOPBACK(&s->sin6_addr);
		} else {
			ok = false;
		}
	}
	freeaddrinfo(res);
	if (!ok || n == 0)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "AWS_CONTAINER_CREDENTIALS_FULL_URI host %.64s is not loopback "
		    "only; use https", host);
	return POKY_OK;
}

enum poky_err
creds_container_url_check(const char *url, struct poky_error *e)
{
	struct httpc_url u;
	struct in_addr a4;
	struct in6_addr a6;

	switch (httpc_url_split(url, &u)) {
	case POKY_OK:
		break;
	case POKY_ERR_NOMEM:
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	default:
		return poky_error_set(e, POKY_ERR_INVALID,
		    "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
	}
	if (strcasecmp(u.scheme, "https") == 0)
		return POKY_OK;
	if (strcasecmp(u.scheme, "http") != 0)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "AWS_CONTAINER_CREDENTIALS_FULL_URI scheme %.16s is not http(s)",
		    u.scheme);
	if (u.ip6) {
		if (inet_pton(AF_INET6, u.host, &a6) == 1 && container_v6_allowed(&a6))
			return POKY_OK;
		goto refuse;
	}
	if (inet_pton(AF_INET, u.host, &a4) == 1) {
		if (container_v4_allowed(&a4))
			return POKY_OK;
		goto refuse;
	}
	/* Forms like "2130706433" are numbers to some resolvers: refuse any
	 * name that is not plainly a name. */
	if (strspn(u.host, "0123456789.") == strlen(u.host))
		goto refuse;
	return container_name_allowed(u.host, e);
refuse:
	return poky_error_set(e, POKY_ERR_INVALID,
	    "AWS_CONTAINER_CREDENTIALS_FULL_URI host %s%.64s%s is not allowed over "
	    "http (loopback, 169.254.170.2, 169.254.170.23, fd00:ec2::23)",
	    u.ip6 ? "[" : "", u.host, u.ip6 ? "]" : "");
}

enum poky_err
creds_container_url(char *out, size_t cap, struct poky_error *e)
{
	const char *rel = profile_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = profile_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	enum poky_err rc;

	if (rel != NULL) {
		if (rel[0] != '/')
			return poky_error_set(e, POKY_ERR_INVALID,
			    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
		if ((size_t)snprintf(out, cap, "%s%s", CONTAINER_HOST, rel) >= cap)
			return poky_error_set(e, POKY_ERR_LIMIT,
			    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI too long");
		return POKY_OK;
	}
	if (full == NULL)
		return poky_error_set(e, POKY_ERR_NOTFOUND,
		    "no AWS_CONTAINER_CREDENTIALS_*_URI");
	if ((rc = creds_container_url_check(full, e)) != POKY_OK)
		return rc;
	if (!str_copy(out, cap, full))
		return poky_error_set(e, POKY_ERR_LIMIT,
		    "AWS_CONTAINER_CREDENTIALS_FULL_URI too long");
	return POKY_OK;
}

/* The Authorization value: the token file (re-read now) or the variable.
 * tok is left empty when neither is set. */
static enum poky_err
container_token(struct buf *tok, struct poky_error *e)
{
	const char *file = profile_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *val = profile_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	enum poky_err rc;

	if (file != NULL) {
		rc = profile_read_file(file, CREDS_TOKEN_FILE_MAX, tok, e);
		if (rc == POKY_ERR_NOTFOUND)
			rc = poky_error_set(e, POKY_ERR_IO, "authorization token "
			    "file %.100s does not exist", file);
		if (rc != POKY_OK)
			return rc;
	} else if (val != NULL) {
		if ((rc = buf_append_str(tok, val)) != POKY_OK)
			return poky_error_set(e, rc, "authorization token too long");
	}
	/* A CR or LF would let the token add headers of its own. */
	if (tok->len > 0 && (memchr(tok->data, '\r', tok->len) != NULL ||
	    memchr(tok->data, '\n', tok->len) != NULL ||
	    memchr(tok->data, '\0', tok->len) != NULL))
		return poky_error_set(e, POKY_ERR_INVALID, "authorization token "
		    "holds a line break or NUL");
	return POKY_OK;
}

static enum poky_err
container_parse(const struct httpc_response *resp, struct aws_creds *out,
		struct poky_error *e)
{
	json_error_t jerr;
	json_t *j;
	enum poky_err rc;

	j = json_loadb(resp->body.data, resp->body.len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (j == NULL)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "container endpoint: answer is not JSON");
	rc = creds_from_json(j, "container", "Token", true, "container endpoint",
	    out, e);
	json_decref(j);
	return rc;
}

enum poky_err
creds_container_get(const struct creds_ctx *ctx, void *ud, struct aws_creds *out,
		    struct poky_error *e)
{
	struct httpc *h = NULL;
	struct httpc_response resp;
	struct buf tok;
	struct hdr hs[2];
	char url[AWS_URL_MAX];
	size_t nh = 0;
	enum poky_err rc;

	(void)ctx;
	(void)ud;
	httpc_response_init(&resp, CONTAINER_MAX_BODY);
	buf_init(&tok, CREDS_TOKEN_FILE_MAX);
	if ((rc = creds_container_url(url, sizeof(url), e)) != POKY_OK)
		goto out;
	if ((rc = container_token(&tok, e)) != POKY_OK)
		goto out;
	hs[nh++] = (struct hdr){ "Accept", 6, "application/json", 16 };
	if (tok.len > 0)
		hs[nh++] = (struct hdr){ "Authorization", 13, tok.data, tok.len };
	h = httpc_new(&(struct httpc_config){
	    .connect_timeout_ms = CONTAINER_CONNECT_MS,
	    .timeout_ms = CONTAINER_TIMEOUT_MS });
	if (h == NULL) {
		rc = poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int attempt = 1; attempt <= CONTAINER_ATTEMPTS; attempt++) {
		rc = httpc_perform(h, &(struct httpc_request){ .method = "GET",
		    .url = url, .headers = hs, .n_headers = nh }, &resp, e);
		if (rc == POKY_OK && resp.status >= 500) {
			rc = poky_error_set(e, POKY_ERR_TRANSIENT,
			    "container endpoint answered HTTP %ld", resp.status);
			if (e != NULL) {
				e->http_status = (int)resp.status;
				e->retryable = 1;
			}
		}
		if (rc != POKY_ERR_TRANSIENT)
			break;
	}
	if (rc != POKY_OK)
		goto out;
	if (resp.status != 200) {
		rc = poky_error_set(e, POKY_ERR_REMOTE,
		    "container endpoint answered HTTP %ld", resp.status);
		if (e != NULL)
			e->http_status = (int)resp.status;
		goto out;
	}
	rc = container_parse(&resp, out, e);
out:
	if (resp.body.data != NULL)
		crypto_wipe(resp.body.data, resp.body.cap);
	httpc_response_cleanup(&resp);
	httpc_free(h);
	buf_free_secure(&tok);
	return rc;
}
