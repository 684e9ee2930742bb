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

#include "lib/addr.h"

typedef enum {
  IPC_PROXY_SOCKS5 = 1,
  IPC_PROXY_SOCKS4A,
  IPC_PROXY_HTTP,
} ipc_proxy_type_t;

#define IPC_PROXY_CRED_MAX 255

typedef struct ipc_proxy {
  ipc_proxy_type_t type;
  bool has_auth;
  char user[IPC_PROXY_CRED_MAX + 1];
  char pass[IPC_PROXY_CRED_MAX + 1];
  addr_endpoint_t addr;
} ipc_proxy_t;

/* Returns 0, or -1 with err giving the reason (without the credentials). */
int ipc_proxy_parse(const char *uri, ipc_proxy_t *out, char *err, size_t errlen);

#endif
