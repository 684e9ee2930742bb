/* upstream: reaching the PT server through an upstream proxy (TOR_PT_PROXY).
 *
 * This header holds the proxy's description (filled by ipc_proxy_parse())
 * and the handshake that asks a connected proxy for a tunnel to a
 * destination. The wire formats are codecs in upstream_codec.h; dial.c
 * connects to the proxy and runs the handshake under its own deadline.
 *
 * Names: SOCKS5 and HTTP CONNECT send a DNS name as a name and SOCKS4a as a
 * 4a name, so the proxy resolves it and no DNS query leaves this machine
 * beside the proxy. SOCKS4a cannot carry IPv6.
 *
 * How a failure becomes the SOCKS5 reply the application sees: the
 * handshake reports an errno, which the client turns into a reply with
 * socks5_reply_for_errno() (net/socks5.c).
 *
 *   what happened                          errno          reply today
 *   proxy not listening / unreachable      connect's own  0x05 / 0x03 / 0x04
 *   no answer in time (connect+handshake)  ETIMEDOUT      0x06
 *   proxy closed or reset mid-handshake    ECONNRESET     0x01
 *   malformed or unexpected answer         EPROTO         0x01
 *   SOCKS5 method 0xFF (none acceptable)   EACCES         0x02
 *   SOCKS5 RFC 1929 status != 0            EACCES         0x02
 *   SOCKS5 REP 0x01 general failure        ECONNABORTED   0x01
 *   SOCKS5 REP 0x02 not allowed            EACCES         0x02
 *   SOCKS5 REP 0x03 network unreachable    ENETUNREACH    0x03
 *   SOCKS5 REP 0x04 host unreachable       EHOSTUNREACH   0x04
 *   SOCKS5 REP 0x05 refused                ECONNREFUSED   0x05
 *   SOCKS5 REP 0x06 TTL expired            ETIMEDOUT      0x06
 *   SOCKS5 REP 0x07 command not supported  EOPNOTSUPP     0x01
 *   SOCKS5 REP 0x08 address type           EAFNOSUPPORT   0x01 (0x08 once mapped)
 *   SOCKS5 REP anything else               EPROTO         0x01
 *   SOCKS4 0x5B rejected or failed         ECONNREFUSED   0x05
 *   SOCKS4 0x5C / 0x5D identd trouble      EACCES         0x02
 *   SOCKS4 anything else                   EPROTO         0x01
 *   IPv6 destination through SOCKS4a       EAFNOSUPPORT   0x01 (0x08 once mapped)
 *   a name HTTP CONNECT cannot carry       EINVAL         0x01
 *   HTTP 401, 403, 407                     EACCES         0x02
 *   HTTP 404, 502                          EHOSTUNREACH   0x04
 *   HTTP 503                               ECONNREFUSED   0x05
 *   HTTP 504                               ETIMEDOUT      0x06
 *   HTTP any other non-2xx                 ECONNABORTED   0x01
 *
 * SOCKS4 0x5B means "rejected or failed" alike; "refused" is the closer of
 * the two for an application. 401 is here because some proxies (tinyproxy)
 * answer bad proxy credentials with it instead of 407.
 *
 * Secrets: the credentials go into the wire buffers only (by reference,
 * wiped when libevent lets go of them) and never into a log line or an
 * error text. */
#ifndef PTD_NET_UPSTREAM_H
#define PTD_NET_UPSTREAM_H

#include <stdbool.h>

#include "lib/addr.h"

struct bufferevent;

typedef enum { UPSTREAM_SOCKS5 = 1, UPSTREAM_SOCKS4A, UPSTREAM_HTTP } upstream_type_t;

#define UPSTREAM_CRED_MAX 255

typedef struct upstream_proxy {
  upstream_type_t type;
  bool has_auth; /* user and pass are 1..UPSTREAM_CRED_MAX bytes, no NUL */
  char user[UPSTREAM_CRED_MAX + 1];
  char pass[UPSTREAM_CRED_MAX + 1];
  addr_endpoint_t addr; /* always an IP literal */
} upstream_proxy_t;

/* "socks5", "socks4a", "http". */
const char *upstream_type_name(upstream_type_t type);

typedef struct upstream upstream_t;

/* On success bev is the tunnel, owned by the callee, with no callbacks,
 * reading disabled, and its input holding whatever the proxy sent after
 * its answer (the far end's first bytes). On failure bev is NULL and err
 * is an errno from the table above. */
typedef void (*upstream_done_fn)(void *ctx, struct bufferevent *bev, int err);

/* Starts the handshake on bev, connected to proxy, for dest. Takes bev
 * (frees it on failure, or hands it to done). proxy must stay valid until
 * done runs or upstream_cancel(); dest is copied. done never runs from
 * inside this call. There is no timer here: the caller bounds the time.
 * Returns NULL with *err set (bev still the caller's) if the first message
 * cannot be built: EAFNOSUPPORT, EINVAL as in the table, ENOMEM. */
upstream_t *upstream_start(struct bufferevent *bev, const upstream_proxy_t *proxy,
                           const addr_endpoint_t *dest, upstream_done_fn done, void *ctx,
                           int *err);
/* Abandons the handshake and frees its bufferevent; done is not called.
 * Accepts NULL. */
void upstream_cancel(upstream_t *u);

#endif
