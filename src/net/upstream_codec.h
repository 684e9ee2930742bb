/* upstream_codec: the client side of the upstream proxies' wire formats, as
 * codecs on evbuffers (no sockets, so they are unit-tested and fuzzed).
 *
 *   SOCKS5 (RFC 1928, RFC 1929)   upstream_socks5.c
 *   SOCKS4a                        upstream_socks4a.c
 *   HTTP CONNECT (RFC 9110 9.3.6)  upstream_http.c
 *
 * Writers append one whole message to out. Readers peek at in and drain
 * exactly one whole answer: a half-arrived answer leaves in untouched
 * (UPSTREAM_NEED_MORE), a malformed one also leaves it untouched
 * (UPSTREAM_ERROR: the caller hangs up), and bytes after the answer stay
 * in `in` (they belong to the tunnel). Fields are checked as they arrive,
 * so garbage is refused at its first wrong byte. The caller owns every
 * buffer. The *_errno functions map a proxy's answer as upstream.h's
 * table says; 0 means success. */
#ifndef PTD_NET_UPSTREAM_CODEC_H
#define PTD_NET_UPSTREAM_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/addr.h"
#include "net/upstream.h"

struct evbuffer;

typedef enum { UPSTREAM_OK, UPSTREAM_NEED_MORE, UPSTREAM_ERROR } upstream_result_t;

/* Whether a proxy of this type can be asked for dest: 0, EAFNOSUPPORT
 * (IPv6 through SOCKS4a), or EINVAL (an empty name; for HTTP, a name with
 * characters outside RFC 3986's "unreserved", which could otherwise end
 * the request line or add a header). */
int upstream_check_dest(upstream_type_t type, const addr_endpoint_t *dest);

/* ---- SOCKS5 ---- */

/* VER NMETHODS METHODS: 0x00 alone, or 0x02 alone with credentials (a
 * user who gave credentials expects them to be used). */
void upstream_socks5_write_greeting(struct evbuffer *out, bool with_auth);
/* VER METHOD; ERROR unless VER is 5. The caller judges the method. */
upstream_result_t upstream_socks5_read_method(struct evbuffer *in, uint8_t *method);
/* RFC 1929: VER(1) ULEN UNAME PLEN PASSWD. user and pass must be 1..255
 * bytes; returns 0 or EINVAL. */
int upstream_socks5_write_auth(struct evbuffer *out, const char *user, const char *pass);
/* VER STATUS; VER must be 1 (or 5, which some servers send). *status 0 is
 * success. */
upstream_result_t upstream_socks5_read_auth(struct evbuffer *in, uint8_t *status);
/* VER CMD=CONNECT RSV ATYP DST.ADDR DST.PORT, ATYP from dest (a name is
 * sent as ATYP 3). Returns 0 or EINVAL (empty name). */
int upstream_socks5_write_connect(struct evbuffer *out, const addr_endpoint_t *dest);
/* VER REP RSV ATYP BND.ADDR BND.PORT, BND.ADDR sized by ATYP (1, 3 or 4,
 * else ERROR); RSV is not checked. Sets *rep (0 is success). */
upstream_result_t upstream_socks5_read_reply(struct evbuffer *in, uint8_t *rep);
int upstream_socks5_rep_errno(uint8_t rep);

/* ---- SOCKS4a ---- */

/* VN=4 CD=1 DSTPORT DSTIP USERID="" NUL, then for a name (DSTIP 0.0.0.1)
 * the name and a NUL. An IPv4 literal goes plainly. Returns 0,
 * EAFNOSUPPORT (IPv6) or EINVAL (empty name). */
int upstream_socks4a_write_connect(struct evbuffer *out, const addr_endpoint_t *dest);
/* VN=0 CD DSTPORT DSTIP (8 bytes); *cd 0x5A is success. */
upstream_result_t upstream_socks4_read_reply(struct evbuffer *in, uint8_t *cd);
int upstream_socks4_cd_errno(uint8_t cd);

/* ---- HTTP CONNECT ---- */

/* The most the status line, headers and blank line may take together. */
#define UPSTREAM_HTTP_HEADER_MAX 8192

/* "CONNECT host:port HTTP/1.1", Host, and with proxy->has_auth
 * "Proxy-Authorization: Basic base64(user:pass)". Returns 0 or EINVAL (a
 * name upstream_check_dest() refuses). */
int upstream_http_write_connect(struct evbuffer *out, const addr_endpoint_t *dest,
                                const upstream_proxy_t *proxy);
/* "HTTP/1.x SSS reason" then header lines, then an empty line; lines end
 * in CRLF or a bare LF. ERROR for anything else, for a NUL, or when no
 * empty line comes within UPSTREAM_HTTP_HEADER_MAX bytes. Sets *status
 * (100..999). The headers are not interpreted: a CONNECT's 2xx has no
 * body, and any other answer ends the connection. */
upstream_result_t upstream_http_read_response(struct evbuffer *in, int *status);
int upstream_http_status_errno(int status);

/* ---- shared by the codec files ---- */

/* lib/evbuf_peek for the upstream readers: up to cap bytes from the
 * front of in, not drained; a buffer that cannot be read counts as no
 * bytes yet, so every reader answers it the same way. */
size_t upstream_peek(struct evbuffer *in, uint8_t *buf, size_t cap);
/* Appends a message holding a secret: the bytes are added by reference to
 * a private copy that is wiped and freed when the buffer is done with it.
 * Returns 0 or ENOMEM. */
int upstream_add_secret(struct evbuffer *out, const void *data, size_t len);

#endif
