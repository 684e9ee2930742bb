/* proxy: validation of the upstream proxy URI (TOR_PT_PROXY / -proxy).
 *
 *   socks5://[user:pass@]IP:port   RFC 1929: user and pass 1..255 bytes each
 *   socks4a://IP:port
 *   http://[user:pass@]IP:port
 * The scheme is case-insensitive; the address must be an IP literal (IPv6
 * in brackets); the port is required (1..65535); userinfo is
 * percent-decoded; a single trailing '/' is tolerated, nothing else after
 * the port. */
#ifndef PTD_IPC_PROXY_H
#define PTD_IPC_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "net/upstream.h"

/* The parent contract's name for the proxy: the description itself lives
 * with the code that dials through it (net/upstream.h). */
typedef upstream_proxy_t ipc_proxy_t;

/* Fills *out (only on success). Returns 0, or -1 with err giving the
 * reason (without the credentials). */
int ipc_proxy_parse(const char *uri, ipc_proxy_t *out, char *err, size_t errlen);

#endif
