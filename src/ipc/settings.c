/* settings: the table of configuration inputs, and reading argv and envp
 * into it.
 *
 * Flag syntax is Go's flag package's, because the parents we replace
 * (obfs4proxy, shapeshifter-dispatcher) are Go programs and scripts written
 * for them must keep working: "-x v", "-x=v", "--x v", "--x=v"; a boolean
 * is "-x" or "-x=<bool>" and never takes the next argument; "--" ends the
 * flags. Unlike Go we take no positional arguments, so anything that is not
 * a flag is an error rather than silently ignored.
 *
 * Nothing is copied: a slot's value points into argv, into envp, or at the
 * static "true"/"false" a boolean flag was normalised to. Sources are
 * static strings too (see SETTINGS_FLAG). */
#include "ipc/settings.h"

#include <stdio.h>
#include <string.h>

#include "lib/quote.h"
#include "transports/transport.h"

/* A flag name is stored one byte into the literal "-name", so that the
 * slot's source "-name" is simply flag - 1 and no second table can drift
 * out of step with this one. */
#define SETTINGS_FLAG(name) (&("-" name)[1])

const ipc_opt_spec_t ipc_opt_specs[IPC_OPT_COUNT] = {
    [IPC_OPT_PTVERSION] = {SETTINGS_FLAG("ptversion"), "TOR_PT_MANAGED_TRANSPORT_VER",
                           IPC_KIND_STRING, "versions",
                           "PT versions the parent speaks, comma-separated (ours: 2, 1)"},
    [IPC_OPT_STATE] = {SETTINGS_FLAG("state"), "TOR_PT_STATE_LOCATION", IPC_KIND_STRING,
                       "dir", "directory for state files (default: the working directory)"},
    [IPC_OPT_EXIT_ON_STDIN_CLOSE] = {SETTINGS_FLAG("exit-on-stdin-close"),
                                     "TOR_PT_EXIT_ON_STDIN_CLOSE", IPC_KIND_BOOL, NULL,
                                     "exit when standard input is closed (default false)"},
    [IPC_OPT_TRANSPORTS] = {SETTINGS_FLAG("transports"), NULL, IPC_KIND_STRING, "names",
                            "transports to run, comma-separated (role: -client or -server)"},
    [IPC_OPT_CLIENT_TRANSPORTS] = {NULL, "TOR_PT_CLIENT_TRANSPORTS", IPC_KIND_STRING, NULL,
                                   "client transports to run, comma-separated"},
    [IPC_OPT_SERVER_TRANSPORTS] = {NULL, "TOR_PT_SERVER_TRANSPORTS", IPC_KIND_STRING, NULL,
                                   "server transports to run, comma-separated"},
    [IPC_OPT_PROXY] = {SETTINGS_FLAG("proxy"), "TOR_PT_PROXY", IPC_KIND_STRING, "uri",
                       "upstream proxy: socks5://, socks4a:// or http://[user:pass@]ip:port "
                       "(default none)"},
    [IPC_OPT_OPTIONS] = {SETTINGS_FLAG("options"), "TOR_PT_SERVER_TRANSPORT_OPTIONS",
                         IPC_KIND_STRING, "opts",
                         "transport options: name:k=v;name:k=v, or a JSON object"},
    [IPC_OPT_OPTIONS_FILE] = {SETTINGS_FLAG("optionsFile"), NULL, IPC_KIND_STRING, "file",
                              "read transport options from a JSON file (at most 1 MiB)"},
    [IPC_OPT_BINDADDR] = {SETTINGS_FLAG("bindaddr"), "TOR_PT_SERVER_BINDADDR",
                          IPC_KIND_STRING, "name-ip:port,...",
                          "server: the address each transport listens on (default 0.0.0.0:0)"},
    [IPC_OPT_ORPORT] = {SETTINGS_FLAG("orport"), "TOR_PT_ORPORT", IPC_KIND_STRING,
                        "host:port", "server: where to send the decoded traffic"},
    [IPC_OPT_TARGET] = {SETTINGS_FLAG("target"), NULL, IPC_KIND_STRING, "host:port",
                        "client: the server to dial in transparent and STUN modes; "
                        "server: like -orport"},
    [IPC_OPT_EXTORPORT] = {SETTINGS_FLAG("extorport"), "TOR_PT_EXTENDED_SERVER_PORT",
                           IPC_KIND_STRING, "host:port",
                           "server: the parent's Extended ORPort (empty: none)"},
    [IPC_OPT_AUTHCOOKIE] = {SETTINGS_FLAG("authcookie"), "TOR_PT_AUTH_COOKIE_FILE",
                            IPC_KIND_STRING, "file",
                            "server: the Extended ORPort authentication cookie"},
    [IPC_OPT_OUTBOUND_V4] = {NULL, "TOR_PT_OUTBOUND_BIND_ADDRESS_V4", IPC_KIND_STRING, NULL,
                             "source IPv4 address for outgoing connections (default: any)"},
    [IPC_OPT_OUTBOUND_V6] = {NULL, "TOR_PT_OUTBOUND_BIND_ADDRESS_V6", IPC_KIND_STRING, NULL,
                             "source IPv6 address for outgoing connections (default: any)"},
    [IPC_OPT_CLIENT] = {SETTINGS_FLAG("client"), NULL, IPC_KIND_BOOL, NULL,
                        "run as a client"},
    [IPC_OPT_SERVER] = {SETTINGS_FLAG("server"), NULL, IPC_KIND_BOOL, NULL,
                        "run as a server"},
    [IPC_OPT_MODE] = {SETTINGS_FLAG("mode"), NULL, IPC_KIND_STRING, "mode",
                      "client listener: socks5, transparent-TCP, transparent-UDP or STUN "
                      "(default socks5)"},
    [IPC_OPT_TRANSPARENT] = {SETTINGS_FLAG("transparent"), NULL, IPC_KIND_BOOL, NULL,
                             "transparent mode: -mode transparent-TCP, or with -udp "
                             "transparent-UDP"},
    [IPC_OPT_UDP] = {SETTINGS_FLAG("udp"), NULL, IPC_KIND_BOOL, NULL,
                     "UDP mode: -mode STUN, or with -transparent transparent-UDP"},
    [IPC_OPT_PROXYLISTENADDR] = {SETTINGS_FLAG("proxylistenaddr"), NULL, IPC_KIND_STRING,
                                 "ip:port",
                                 "client: where to listen for the application "
                                 "(default 127.0.0.1:0)"},
    [IPC_OPT_MAX_CONNECTIONS] = {SETTINGS_FLAG("maxConnections"), NULL, IPC_KIND_STRING, "n",
                                 "open connections at most; more wait in the backlog "
                                 "(default: what the descriptor limit allows)"},
    [IPC_OPT_HANDSHAKE_TIMEOUT] = {SETTINGS_FLAG("handshakeTimeout"), NULL, IPC_KIND_STRING,
                                   "seconds",
                                   "close a connection whose SOCKS or Extended ORPort "
                                   "handshake has not finished by then (default 30)"},
    [IPC_OPT_IDLE_TIMEOUT] = {SETTINGS_FLAG("idleTimeout"), NULL, IPC_KIND_STRING, "seconds",
                              "close a connection idle that long both ways (default 0: never)"},
    [IPC_OPT_PARAMS_LIMIT] = {SETTINGS_FLAG("paramsLimit"), NULL, IPC_KIND_STRING, "bytes",
                              "largest SOCKS 0x09 connection-settings block (default 65536)"},
    [IPC_OPT_UDP_TIMEOUT] = {SETTINGS_FLAG("udptimeout"), NULL, IPC_KIND_STRING, "seconds",
                             "UDP modes: close a transport connection no datagram has used "
                             "that long (default 60)"},
    [IPC_OPT_UDP_QUEUE] = {SETTINGS_FLAG("udpqueue"), NULL, IPC_KIND_STRING, "n",
                           "UDP modes, client: datagrams kept while a connection is being "
                           "made (default 8; 0: dropped, as the spec's table says)"},
    [IPC_OPT_LOGLEVEL] = {SETTINGS_FLAG("logLevel"), NULL, IPC_KIND_STRING, "level",
                          "ERROR, WARN, INFO or DEBUG (default WARN)"},
    [IPC_OPT_ENABLE_LOGGING] = {SETTINGS_FLAG("enableLogging"), NULL, IPC_KIND_BOOL, NULL,
                                "write a log file in the state directory (default false)"},
    [IPC_OPT_UNSAFE_LOGGING] = {SETTINGS_FLAG("unsafeLogging"), NULL, IPC_KIND_BOOL, NULL,
                                "log client addresses instead of scrubbing them "
                                "(default false)"},
    [IPC_OPT_VERSION] = {SETTINGS_FLAG("version"), NULL, IPC_KIND_BOOL, NULL,
                         "print the version and exit"},
    [IPC_OPT_HELP] = {SETTINGS_FLAG("help"), NULL, IPC_KIND_BOOL, NULL,
                      "print this help and exit (also -h)"},
};

const char *ipc_quote(const char *text, char *buf, size_t buflen) {
  return quote_text(text, buf, buflen);
}

/* Go's strconv.ParseBool spellings. Returns 0 or -1. */
static int settings_parse_bool(const char *text, bool *out) {
  static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
  static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcmp(text, yes[i]) == 0) {
      *out = true;
      return 0;
    }
    if (strcmp(text, no[i]) == 0) {
      *out = false;
      return 0;
    }
  }
  return -1;
}

int ipc_setting_bool(const ipc_setting_t *s, bool *out, char *err, size_t errlen) {
  char q[IPC_QUOTE_MAX];
  *out = false;
  if (!s->value || s->value[0] == '\0')
    return 0;
  if (settings_parse_bool(s->value, out) == 0)
    return 0;
  snprintf(err, errlen, "bad boolean %s in %s", ipc_quote(s->value, q, sizeof q),
           s->source ? s->source : "?");
  return -1;
}

bool ipc_setting_present(const ipc_setting_t *s) { return s->value && s->value[0] != '\0'; }

/* The value of NAME in envp ("NAME=value"), first match, or NULL. */
static const char *settings_getenv(char *const envp[], const char *name) {
  size_t len = strlen(name);
  if (!envp)
    return NULL;
  for (size_t i = 0; envp[i]; i++) {
    if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=')
      return envp[i] + len + 1;
  }
  return NULL;
}

/* The row whose flag is name[0..len), or -1. "-h" is -help's short form,
 * as in Go, where -h and -help both ask for the usage text. */
static int settings_find_flag(const char *name, size_t len) {
  if (len == 1 && name[0] == 'h')
    return IPC_OPT_HELP;
  for (int i = 0; i < IPC_OPT_COUNT; i++) {
    const char *flag = ipc_opt_specs[i].flag;
    if (flag && strlen(flag) == len && memcmp(flag, name, len) == 0)
      return i;
  }
  return -1;
}

/* True when name[0..len) is short printable ASCII, safe to print bare. */
static bool settings_is_plain(const char *name, size_t len) {
  if (len > 64)
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c <= 0x20 || c > 0x7e || c == '"' || c == '\\')
      return false;
  }
  return true;
}

/* Reads one flag starting at argv[*i]; advances *i past a consumed value.
 * The caller has checked that argv[*i] starts with '-' and is longer than
 * "-", and is not "--". */
static int settings_read_flag(ipc_settings_t *s, int argc, char *const argv[], int *i,
                              char *err, size_t errlen) {
  const char *arg = argv[*i];
  const char *name = arg + (arg[1] == '-' ? 2 : 1);
  char q[IPC_QUOTE_MAX];

  if (name[0] == '\0' || name[0] == '-' || name[0] == '=') {
    snprintf(err, errlen, "bad flag syntax: %s", ipc_quote(arg, q, sizeof q));
    return -1;
  }
  const char *eq = strchr(name, '=');
  size_t len = eq ? (size_t)(eq - name) : strlen(name);
  int row = settings_find_flag(name, len);
  if (row < 0) {
    /* The plain "-name" reads best; a name that could break the error line
     * or flood it is quoted (and cut) instead. */
    if (settings_is_plain(name, len))
      snprintf(err, errlen, "unknown flag -%.*s", (int)len, name);
    else
      snprintf(err, errlen, "unknown flag %s", ipc_quote(arg, q, sizeof q));
    return -1;
  }

  const ipc_opt_spec_t *spec = &ipc_opt_specs[row];
  ipc_setting_t *slot = &s->opt[row];
  const char *source = spec->flag - 1;
  const char *value;

  if (spec->kind == IPC_KIND_BOOL) {
    bool b = true;
    if (eq && settings_parse_bool(eq + 1, &b) != 0) {
      snprintf(err, errlen, "bad boolean %s in %s", ipc_quote(eq + 1, q, sizeof q), source);
      return -1;
    }
    value = b ? "true" : "false";
  } else if (eq) {
    value = eq + 1;
  } else if (*i + 1 < argc && argv[*i + 1]) {
    /* Like Go, the next argument is the value even if it starts with '-'. */
    value = argv[++*i];
  } else {
    snprintf(err, errlen, "flag %s needs a value", source);
    return -1;
  }
  slot->value = value;
  slot->source = source;
  slot->from_flag = true;
  return 0;
}

static int settings_read_argv(ipc_settings_t *s, int argc, char *const argv[], char *err,
                              size_t errlen) {
  char q[IPC_QUOTE_MAX];
  int i = 1;

  for (; argv && i < argc && argv[i]; i++) {
    const char *arg = argv[i];
    if (arg[0] != '-' || arg[1] == '\0')
      break;
    if (strcmp(arg, "--") == 0) {
      i++;
      break;
    }
    if (settings_read_flag(s, argc, argv, &i, err, errlen) != 0)
      return -1;
  }
  /* We take no positional arguments: a stray word is most likely a flag
   * whose dash went missing, and ignoring it would hide that. */
  if (argv && i < argc && argv[i]) {
    snprintf(err, errlen, "unexpected argument %s", ipc_quote(argv[i], q, sizeof q));
    return -1;
  }
  return 0;
}

int ipc_settings_read(ipc_settings_t *s, int argc, char *const argv[],
                      char *const envp[], char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  for (int i = 0; i < IPC_OPT_COUNT; i++) {
    const char *env = ipc_opt_specs[i].env;
    const char *value = env ? settings_getenv(envp, env) : NULL;
    if (value) {
      s->opt[i].value = value;
      s->opt[i].source = env;
    }
  }
  /* Flags are read after the environment so that they override it. */
  if (settings_read_argv(s, argc, argv, err, errlen) != 0)
    return -1;
  return 0;
}

/* The left column of a row's usage line: "-flag arg", "-flag" or "VAR". */
static void settings_usage_left(const ipc_opt_spec_t *spec, char *buf, size_t len) {
  if (!spec->flag)
    snprintf(buf, len, "%s", spec->env);
  else if (spec->arg)
    snprintf(buf, len, "-%s %s", spec->flag, spec->arg);
  else
    snprintf(buf, len, "-%s", spec->flag);
}

static int settings_usage_width(void) {
  char left[128];
  int width = 0;
  for (int i = 0; i < IPC_OPT_COUNT; i++) {
    settings_usage_left(&ipc_opt_specs[i], left, sizeof left);
    if ((int)strlen(left) > width)
      width = (int)strlen(left);
  }
  return width;
}

static void settings_usage_row(FILE *out, const ipc_opt_spec_t *spec, int width) {
  char left[128];
  settings_usage_left(spec, left, sizeof left);
  fprintf(out, "  %-*s   %s", width, left, spec->help);
  if (spec->flag && spec->env)
    fprintf(out, " (env %s)", spec->env);
  fputc('\n', out);
}

static void settings_usage_transports(FILE *out) {
  const char *const *names = transport_names();
  fputs("Transports:", out);
  for (size_t i = 0; names && names[i]; i++)
    fprintf(out, "%s %s", i ? "," : "", names[i]);
  fputc('\n', out);
}

void ipc_usage(FILE *out, const char *progname) {
  int width = settings_usage_width();

  fprintf(out, "Usage: %s [flags]\n", progname && *progname ? progname : "ptdispatch");
  fputs("Flags (-x v, -x=v, --x v and --x=v all work; flags override the environment):\n",
        out);
  for (int i = 0; i < IPC_OPT_COUNT; i++) {
    if (ipc_opt_specs[i].flag)
      settings_usage_row(out, &ipc_opt_specs[i], width);
  }
  fputs("Environment variables without a flag:\n", out);
  for (int i = 0; i < IPC_OPT_COUNT; i++) {
    if (!ipc_opt_specs[i].flag)
      settings_usage_row(out, &ipc_opt_specs[i], width);
  }
  settings_usage_transports(out);
}
