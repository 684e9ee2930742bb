/* upstream_http: the client side of HTTP CONNECT (RFC 9110 9.3.6), for
 * dialing through an upstream proxy. Conventions in upstream_codec.h.
 *
 * The request is HTTP/1.1 with a Host header (RFC 9112 3.2 requires one)
 * and, with credentials, Basic proxy authorization (RFC 7617). No
 * User-Agent or other header: nothing that would tell the proxy more than
 * where to go. The response is read up to its empty line only; what
 * follows is the tunnel. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "net/upstream_codec.h"

/* "[" IPv6 "]:" port, or name ":" port. */
#define UPSTREAM_HTTP_AUTHORITY_MAX (ADDR_HOST_MAX + sizeof "[]:65535")
/* user ":" pass, and its base64. */
#define UPSTREAM_HTTP_USERPASS_MAX (2 * UPSTREAM_CRED_MAX + 1)
#define UPSTREAM_HTTP_B64_MAX                                                  \
  sodium_base64_ENCODED_LEN(UPSTREAM_HTTP_USERPASS_MAX, sodium_base64_VARIANT_ORIGINAL)
#define UPSTREAM_HTTP_REQUEST_MAX                                              \
  (2 * UPSTREAM_HTTP_AUTHORITY_MAX + UPSTREAM_HTTP_B64_MAX + 128)

/* "HTTP/1.x SSS": the version prefix, the minor digit, the space, the
 * three status digits, and what must follow them. */
#define UPSTREAM_HTTP_VERSION_PREFIX "HTTP/1."
#define UPSTREAM_HTTP_PREFIX_LEN (sizeof UPSTREAM_HTTP_VERSION_PREFIX - 1)
#define UPSTREAM_HTTP_OFF_MINOR UPSTREAM_HTTP_PREFIX_LEN
#define UPSTREAM_HTTP_OFF_SP (UPSTREAM_HTTP_OFF_MINOR + 1)
#define UPSTREAM_HTTP_OFF_STATUS (UPSTREAM_HTTP_OFF_SP + 1)
#define UPSTREAM_HTTP_STATUS_DIGITS 3
#define UPSTREAM_HTTP_OFF_AFTER_STATUS (UPSTREAM_HTTP_OFF_STATUS + UPSTREAM_HTTP_STATUS_DIGITS)

/* Writes the authority ("host:port", IPv6 in brackets) for dest. */
static void upstream_http_authority(const addr_endpoint_t *dest,
                                    char out[static UPSTREAM_HTTP_AUTHORITY_MAX]) {
  if (dest->family == AF_INET || dest->family == AF_INET6)
    addr_format((const struct sockaddr *)&dest->sa, out);
  else
    snprintf(out, UPSTREAM_HTTP_AUTHORITY_MAX, "%s:%u", dest->host, (unsigned)dest->port);
}

/* Appends "Proxy-Authorization: Basic ...\r\n" to req[*n..cap). */
static int upstream_http_add_auth(char *req, size_t cap, size_t *n,
                                  const upstream_proxy_t *proxy) {
  char userpass[UPSTREAM_HTTP_USERPASS_MAX + 1];
  char b64[UPSTREAM_HTTP_B64_MAX];
  int rc = EINVAL;
  int len = snprintf(userpass, sizeof userpass, "%s:%s", proxy->user, proxy->pass);
  if (len <= 0 || (size_t)len >= sizeof userpass)
    goto cleanup;
  sodium_bin2base64(b64, sizeof b64, (const unsigned char *)userpass, (size_t)len,
                    sodium_base64_VARIANT_ORIGINAL);
  int w = snprintf(req + *n, cap - *n, "Proxy-Authorization: Basic %s\r\n", b64);
  if (w <= 0 || (size_t)w >= cap - *n)
    goto cleanup;
  *n += (size_t)w;
  rc = 0;
cleanup:
  sodium_memzero(userpass, sizeof userpass);
  sodium_memzero(b64, sizeof b64);
  return rc;
}

int upstream_http_write_connect(struct evbuffer *out, const addr_endpoint_t *dest,
                                const upstream_proxy_t *proxy) {
  char authority[UPSTREAM_HTTP_AUTHORITY_MAX];
  char req[UPSTREAM_HTTP_REQUEST_MAX];
  int rc = upstream_check_dest(UPSTREAM_HTTP, dest);
  if (rc != 0)
    return rc;
  upstream_http_authority(dest, authority);
  int w = snprintf(req, sizeof req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", authority,
                   authority);
  if (w <= 0 || (size_t)w >= sizeof req)
    return EINVAL;
  size_t n = (size_t)w;
  if (proxy->has_auth && upstream_http_add_auth(req, sizeof req, &n, proxy) != 0) {
    rc = EINVAL;
    goto cleanup;
  }
  if (n + 2 >= sizeof req) {
    rc = EINVAL;
    goto cleanup;
  }
  memcpy(req + n, "\r\n", 2);
  n += 2;
  if (proxy->has_auth)
    rc = upstream_add_secret(out, req, n);
  else
    rc = evbuffer_add(out, req, n) == 0 ? 0 : ENOMEM;
cleanup:
  sodium_memzero(req, sizeof req);
  return rc;
}

/* Where the header ends (just past its empty line) in buf[0..have), or 0
 * if it has not arrived yet. Lines may end in CRLF or LF. */
static size_t upstream_http_header_end(const uint8_t *buf, size_t have) {
  for (size_t i = 0; i < have; i++) {
    if (buf[i] != '\n')
      continue;
    if (i + 1 < have && buf[i + 1] == '\n')
      return i + 2;
    if (i + 2 < have && buf[i + 1] == '\r' && buf[i + 2] == '\n')
      return i + 3;
  }
  return 0;
}

static bool upstream_http_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* Checks "HTTP/1.x SSS" followed by a space or the line's end. */
static int upstream_http_status_line(const uint8_t *buf, size_t len, int *status) {
  if (len <= UPSTREAM_HTTP_OFF_AFTER_STATUS)
    return -1;
  if (!upstream_http_digit(buf[UPSTREAM_HTTP_OFF_MINOR]) || buf[UPSTREAM_HTTP_OFF_SP] != ' ')
    return -1;
  const uint8_t *s = buf + UPSTREAM_HTTP_OFF_STATUS;
  if (s[0] < '1' || s[0] > '9' || !upstream_http_digit(s[1]) || !upstream_http_digit(s[2]))
    return -1;
  uint8_t after = buf[UPSTREAM_HTTP_OFF_AFTER_STATUS];
  if (after != ' ' && after != '\r' && after != '\n')
    return -1;
  *status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  return 0;
}

upstream_result_t upstream_http_read_response(struct evbuffer *in, int *status) {
  uint8_t buf[UPSTREAM_HTTP_HEADER_MAX];
  size_t have = upstream_peek(in, buf, sizeof buf);
  size_t cmp = have < UPSTREAM_HTTP_PREFIX_LEN ? have : UPSTREAM_HTTP_PREFIX_LEN;
  if (memcmp(buf, UPSTREAM_HTTP_VERSION_PREFIX, cmp) != 0)
    return UPSTREAM_ERROR;
  size_t end = upstream_http_header_end(buf, have);
  /* Only the header is text: the tunnel's bytes after it may hold NULs. */
  if (memchr(buf, '\0', end ? end : have) != NULL)
    return UPSTREAM_ERROR;
  if (end == 0)
    return have >= sizeof buf ? UPSTREAM_ERROR : UPSTREAM_NEED_MORE;
  if (upstream_http_status_line(buf, end, status) != 0)
    return UPSTREAM_ERROR;
  evbuffer_drain(in, end);
  return UPSTREAM_OK;
}

int upstream_http_status_errno(int status) {
  if (status >= 200 && status <= 299)
    return 0;
  switch (status) {
  case 401:
  case 403:
  case 407:
    return EACCES;
  case 404:
  case 502:
    return EHOSTUNREACH;
  case 503:
    return ECONNREFUSED;
  case 504:
    return ETIMEDOUT;
  default:
    return ECONNABORTED;
  }
}
