/* settings: the one table of configuration inputs, and reading them.
 *
 * Each row names a Go-style command-line flag, the environment variable it
 * stands for, or both. ipc_settings_read() fills one slot per row from
 * argv and envp; a flag overrides its variable. It does not interpret
 * values (config.c does); it only knows flag syntax:
 *   -x v   -x=v   --x v   --x=v   and bare -x / -x=true|false for booleans.
 * Values point into argv/envp (or static "true"/"false"); nothing is copied.
 * The same table generates the -help text. */
#ifndef PTD_IPC_SETTINGS_H
#define PTD_IPC_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lib/quote.h"

typedef enum {
  IPC_OPT_PTVERSION,
  IPC_OPT_STATE,
  IPC_OPT_EXIT_ON_STDIN_CLOSE,
  IPC_OPT_TRANSPORTS,        /* -transports: role from -client/-server */
  IPC_OPT_CLIENT_TRANSPORTS, /* TOR_PT_CLIENT_TRANSPORTS */
  IPC_OPT_SERVER_TRANSPORTS, /* TOR_PT_SERVER_TRANSPORTS */
  IPC_OPT_PROXY,
  IPC_OPT_OPTIONS,
  IPC_OPT_OPTIONS_FILE,
  IPC_OPT_BINDADDR,
  IPC_OPT_ORPORT,
  IPC_OPT_TARGET,
  IPC_OPT_EXTORPORT,
  IPC_OPT_AUTHCOOKIE,
  IPC_OPT_OUTBOUND_V4,
  IPC_OPT_OUTBOUND_V6,
  IPC_OPT_CLIENT,
  IPC_OPT_SERVER,
  IPC_OPT_MODE,
  IPC_OPT_TRANSPARENT,
  IPC_OPT_UDP,
  IPC_OPT_PROXYLISTENADDR,
  IPC_OPT_MAX_CONNECTIONS,
  IPC_OPT_HANDSHAKE_TIMEOUT,
  IPC_OPT_IDLE_TIMEOUT,
  IPC_OPT_PARAMS_LIMIT,
  IPC_OPT_UDP_TIMEOUT,
  IPC_OPT_UDP_QUEUE,
  IPC_OPT_LOGLEVEL,
  IPC_OPT_ENABLE_LOGGING,
  IPC_OPT_UNSAFE_LOGGING,
  IPC_OPT_VERSION,
  IPC_OPT_HELP,
  IPC_OPT_COUNT
} ipc_opt_t;

typedef enum { IPC_KIND_STRING, IPC_KIND_BOOL } ipc_kind_t;

typedef struct ipc_opt_spec {
  const char *flag;    /* without dashes; NULL if env-only */
  const char *env;     /* NULL if flag-only */
  ipc_kind_t kind;
  const char *arg;     /* placeholder in usage, e.g. "addr:port" */
  const char *help;
} ipc_opt_spec_t;

typedef struct ipc_setting {
  const char *value;  /* NULL when unset */
  const char *source; /* "-bindaddr" or "TOR_PT_SERVER_BINDADDR" */
  bool from_flag;
} ipc_setting_t;

typedef struct ipc_settings {
  ipc_setting_t opt[IPC_OPT_COUNT];
} ipc_settings_t;

extern const ipc_opt_spec_t ipc_opt_specs[IPC_OPT_COUNT];

/* Fills s from argv[1..argc) and envp (NULL-terminated "K=V" strings).
 * Returns 0, or -1 with err naming the bad flag ("unknown flag -x",
 * "flag -state needs a value", "unexpected argument \"foo\"", ...). */
int ipc_settings_read(ipc_settings_t *s, int argc, char *const argv[],
                      char *const envp[], char *err, size_t errlen);

/* Interprets a bool slot: unset or empty -> false; 1/t/true/0/f/false in
 * Go's spellings. Returns 0, or -1 with err quoting the value and source. */
int ipc_setting_bool(const ipc_setting_t *s, bool *out, char *err, size_t errlen);

/* True when the slot holds a non-empty value. */
bool ipc_setting_present(const ipc_setting_t *s);

/* ipc_quote() is lib/quote's quote_text(), named for this layer's many
 * callers; IPC_QUOTE_MAX is its QUOTE_MAX. */
#define IPC_QUOTE_MAX QUOTE_MAX
const char *ipc_quote(const char *text, char *buf, size_t buflen);

/* Writes the -help text, generated from ipc_opt_specs. */
void ipc_usage(FILE *out, const char *progname);

#endif
