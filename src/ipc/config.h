/* config: turns the raw settings into a validated configuration.
 *
 * The order follows the spec's: ipc_version_negotiate() first (its failure
 * is a VERSION-ERROR), then ipc_config_build() (failures are ENV-ERRORs),
 * then the proxy (PROXY-ERROR), parsed by ipc_proxy_parse() into cfg->proxy
 * by the caller. Every error message names the variable or flag and quotes
 * the value: `bad bind address "x-1.2.3" in TOR_PT_SERVER_BINDADDR`. */
#ifndef PTD_IPC_CONFIG_H
#define PTD_IPC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "ipc/options.h"
#include "ipc/proxy.h"
#include "ipc/settings.h"
#include "lib/addr.h"
#include "lib/log.h"

typedef enum { PTD_ROLE_CLIENT = 1, PTD_ROLE_SERVER } ptd_role_t;

typedef enum {
  PTD_MODE_SOCKS5,
  PTD_MODE_TRANSPARENT_TCP,
  PTD_MODE_TRANSPARENT_UDP,
  PTD_MODE_STUN,
} ptd_mode_t;

typedef struct ptd_bindaddr {
  char *transport;
  addr_endpoint_t addr;
} ptd_bindaddr_t;

typedef struct ptd_config {
  const char *version; /* negotiated: "1" or "2" (static) */
  bool managed;        /* the parent offered versions */
  char *state_dir;     /* absolute path */
  bool exit_on_stdin_close;
  ptd_role_t role;
  char **transports; /* requested names, duplicates removed, in order */
  size_t n_transports;
  ptd_mode_t mode;
  bool has_proxy;
  ipc_proxy_t proxy;
  ipc_options_t options;
  ptd_bindaddr_t *bindaddrs;
  size_t n_bindaddrs;
  bool has_orport; /* server: where plaintext goes (-orport, -target) */
  addr_endpoint_t orport;
  bool has_extorport;
  addr_endpoint_t extorport;
  char *auth_cookie_file;
  bool has_target; /* client, transparent modes: the server to dial */
  addr_endpoint_t target;
  bool has_outbound_v4;
  addr_endpoint_t outbound_v4; /* port is 0 */
  bool has_outbound_v6;
  addr_endpoint_t outbound_v6;
  bool has_listen_addr; /* -proxylistenaddr */
  addr_endpoint_t listen_addr;
  size_t max_connections;      /* 0: derive from the descriptor limit */
  unsigned handshake_timeout_s; /* never 0 */
  unsigned idle_timeout_s;      /* 0: none */
  size_t params_limit;          /* SOCKS 0x09 block */
  unsigned udp_timeout_s;       /* UDP modes: a connection's idle limit, never 0 */
  size_t udp_queue;             /* UDP client: datagrams held while connecting */
  ptd_log_level_t log_level;
  bool enable_logging;
  bool unsafe_logging;
} ptd_config_t;

/* The versions we speak, highest first. */
extern const char *const ipc_supported_versions[];

/* Picks the highest version we speak from the offered comma list. When no
 * list was given at all (standalone use), picks our highest and sets
 * *managed false. Returns 0, or -1 with err (a VERSION-ERROR). */
int ipc_version_negotiate(const ipc_settings_t *s, const char **chosen, bool *managed,
                          char *err, size_t errlen);

/* Validates everything but the version and the proxy. cfg must be
 * zero-initialised; on failure it may be partly filled (clear it).
 * Returns 0, or -1 with err (an ENV-ERROR). */
int ipc_config_build(const ipc_settings_t *s, ptd_config_t *cfg, char *err,
                     size_t errlen);

/* The bind address given for a transport, or NULL. */
const addr_endpoint_t *ipc_config_bindaddr(const ptd_config_t *cfg, const char *transport);

void ipc_config_clear(ptd_config_t *cfg);

/* Parsers config.c builds on; exposed for unit tests and fuzzing. */
int ipc_parse_bindaddr(const char *text, ptd_bindaddr_t **out, size_t *n, char *err,
                       size_t errlen);
int ipc_parse_transport_list(const char *text, char ***out, size_t *n, char *err,
                             size_t errlen);
int ipc_parse_mode(const char *text, ptd_mode_t *out);
const char *ipc_mode_name(ptd_mode_t mode);
/* A decimal count in [min, max]: digits only, no sign. 0 or -1. */
int ipc_parse_count(const char *text, unsigned long long min, unsigned long long max,
                    unsigned long long *out);

#define PTD_DEFAULT_HANDSHAKE_TIMEOUT_S 30
#define PTD_DEFAULT_PARAMS_LIMIT 65536
#define PTD_DEFAULT_UDP_TIMEOUT_S 60
#define PTD_DEFAULT_UDP_QUEUE 8

#endif
