/* config: turns the raw settings slots into a validated ptd_config_t.
 *
 * Each setting has one small function that reads its slot(s), checks the
 * value and fills its part of the configuration; ipc_config_build() runs
 * them in an order where later checks can rely on earlier results (the
 * role decides which transport list is read, the transport list checks the
 * bind addresses). Every error names the flag or variable the value came
 * from and quotes the value with ipc_quote(), except for transport options,
 * which may hold secrets: their errors give only the source and a reason.
 *
 * Ownership: everything a ptd_config_t points to is heap memory owned by
 * it and released by ipc_config_clear(). The proxy is left to the caller
 * (its failure is a PROXY-ERROR, not an ENV-ERROR). */
#include "ipc/config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xalloc.h"

const char *const ipc_supported_versions[] = {"2", "1", NULL};

/* An options file is a handful of keys; anything larger is a mistake
 * (the wrong file), and reading it whole would waste memory. */
#define CONFIG_OPTIONS_FILE_MAX (1024 * 1024)

/* Room for a reason from a lower layer (addr, options). */
#define CONFIG_REASON_MAX 256

static const struct {
  ptd_mode_t mode;
  const char *name;
} config_modes[] = {
    {PTD_MODE_SOCKS5, "socks5"},
    {PTD_MODE_TRANSPARENT_TCP, "transparent-TCP"},
    {PTD_MODE_TRANSPARENT_UDP, "transparent-UDP"},
    {PTD_MODE_STUN, "STUN"},
};

/* Quotes s[0..len) (not NUL-terminated) into q. */
static const char *config_quote_n(const char *s, size_t len, char q[static IPC_QUOTE_MAX]) {
  char tmp[IPC_QUOTE_MAX];
  if (len > sizeof tmp - 1)
    len = sizeof tmp - 1;
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  return ipc_quote(tmp, q, IPC_QUOTE_MAX);
}

/* True when the comma list holds exactly item as one element. */
static bool config_list_has(const char *list, const char *item) {
  size_t len = strlen(item);
  for (const char *p = list;;) {
    size_t n = strcspn(p, ",");
    if (n == len && memcmp(p, item, len) == 0)
      return true;
    if (p[n] == '\0')
      return false;
    p += n + 1;
  }
}

int ipc_version_negotiate(const ipc_settings_t *s, const char **chosen, bool *managed,
                          char *err, size_t errlen) {
  const char *offered = s->opt[IPC_OPT_PTVERSION].value;

  *chosen = NULL;
  *managed = offered != NULL;
  /* Started by hand, not by a parent: there is nobody to negotiate with. */
  if (!offered) {
    *chosen = ipc_supported_versions[0];
    return 0;
  }
  for (size_t i = 0; ipc_supported_versions[i]; i++) {
    if (config_list_has(offered, ipc_supported_versions[i])) {
      *chosen = ipc_supported_versions[i];
      return 0;
    }
  }
  /* The spec's historical message; parents match on it. */
  snprintf(err, errlen, "no-version");
  return -1;
}

static void config_free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

static bool config_names_have(char *const *names, size_t n, const char *name, size_t len) {
  for (size_t i = 0; i < n; i++) {
    if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
      return true;
  }
  return false;
}

int ipc_parse_transport_list(const char *text, char ***out, size_t *n, char *err,
                             size_t errlen) {
  char **names = NULL;
  size_t count = 0, cap = 0;
  char q[IPC_QUOTE_MAX];

  *out = NULL;
  *n = 0;
  for (const char *p = text ? text : "";;) {
    size_t len = strcspn(p, ",");
    if (len == 0) {
      snprintf(err, errlen, "empty transport name");
      goto fail;
    }
    if (!ipc_transport_name_ok(p, len)) {
      snprintf(err, errlen, "bad transport name %s", config_quote_n(p, len, q));
      goto fail;
    }
    /* Tor never repeats a name, but a hand-written list might; running a
     * transport twice would only fail later with a confusing bind error. */
    if (!config_names_have(names, count, p, len)) {
      if (count == cap) {
        cap = cap ? cap * 2 : 4;
        names = xreallocarray(names, cap, sizeof *names);
      }
      names[count++] = xstrndup(p, len);
    }
    if (p[len] == '\0')
      break;
    p += len + 1;
  }
  *out = names;
  *n = count;
  return 0;

fail:
  config_free_names(names, count);
  return -1;
}

/* Parses one "name-ip:port" element into item (item->transport is set
 * only on success). Returns 0, or -1 with a reason in err. */
static int config_bindaddr_one(const char *elem, ptd_bindaddr_t *item, char *err,
                               size_t errlen) {
  char q[IPC_QUOTE_MAX];
  const char *dash = strchr(elem, '-');

  if (elem[0] == '\0') {
    snprintf(err, errlen, "empty bind address");
    return -1;
  }
  if (!dash) {
    snprintf(err, errlen, "want name-address:port");
    return -1;
  }
  if (!ipc_transport_name_ok(elem, (size_t)(dash - elem))) {
    snprintf(err, errlen, "bad transport name %s",
             config_quote_n(elem, (size_t)(dash - elem), q));
    return -1;
  }
  /* The spec forbids host names here: the address is given to bind(). */
  if (addr_parse_endpoint(dash + 1, ADDR_ALLOW_PORT0, &item->addr, err, errlen) != 0)
    return -1;
  item->transport = xstrndup(elem, (size_t)(dash - elem));
  return 0;
}

static void config_free_bindaddrs(ptd_bindaddr_t *items, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(items[i].transport);
  free(items);
}

static bool config_bindaddrs_have(const ptd_bindaddr_t *items, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(items[i].transport, name) == 0)
      return true;
  }
  return false;
}

int ipc_parse_bindaddr(const char *text, ptd_bindaddr_t **out, size_t *n, char *err,
                       size_t errlen) {
  const char *p = text ? text : "";
  /* Naming the bad element only helps when there is more than one. */
  bool many = strchr(p, ',') != NULL;
  ptd_bindaddr_t *items = NULL;
  size_t count = 0, cap = 0;
  char q[IPC_QUOTE_MAX], reason[CONFIG_REASON_MAX];

  *out = NULL;
  *n = 0;
  for (;;) {
    size_t len = strcspn(p, ",");
    char *elem = xstrndup(p, len);
    ptd_bindaddr_t item;
    memset(&item, 0, sizeof item);
    int rc = config_bindaddr_one(elem, &item, reason, sizeof reason);
    if (rc != 0) {
      if (many && len > 0)
        snprintf(err, errlen, "in %s: %s", ipc_quote(elem, q, sizeof q), reason);
      else
        snprintf(err, errlen, "%s", reason);
    }
    free(elem);
    if (rc != 0)
      goto fail;
    if (config_bindaddrs_have(items, count, item.transport)) {
      snprintf(err, errlen, "transport %s has more than one bind address",
               ipc_quote(item.transport, q, sizeof q));
      free(item.transport);
      goto fail;
    }
    if (count == cap) {
      cap = cap ? cap * 2 : 4;
      items = xreallocarray(items, cap, sizeof *items);
    }
    items[count++] = item;
    if (p[len] == '\0')
      break;
    p += len + 1;
  }
  *out = items;
  *n = count;
  return 0;

fail:
  config_free_bindaddrs(items, count);
  return -1;
}

int ipc_parse_mode(const char *text, ptd_mode_t *out) {
  for (size_t i = 0; i < sizeof config_modes / sizeof config_modes[0]; i++) {
    if (text && strcasecmp(text, config_modes[i].name) == 0) {
      *out = config_modes[i].mode;
      return 0;
    }
  }
  return -1;
}

const char *ipc_mode_name(ptd_mode_t mode) {
  for (size_t i = 0; i < sizeof config_modes / sizeof config_modes[0]; i++) {
    if (config_modes[i].mode == mode)
      return config_modes[i].name;
  }
  return "unknown";
}

/* Parses an endpoint slot; what names the setting in the error
 * ("ORPort", "target", ...). */
static int config_endpoint(const ipc_setting_t *slot, const char *what, unsigned flags,
                           addr_endpoint_t *out, char *err, size_t errlen) {
  char q[IPC_QUOTE_MAX], reason[CONFIG_REASON_MAX];
  if (addr_parse_endpoint(slot->value, flags, out, reason, sizeof reason) == 0)
    return 0;
  snprintf(err, errlen, "bad %s %s in %s: %s", what, ipc_quote(slot->value, q, sizeof q),
           slot->source, reason);
  return -1;
}

/* Unset or empty means the working directory (the spec's rule); a relative
 * path is anchored there now, because the process may chdir later. */
static int config_state_dir(const ipc_setting_t *slot, char **out, char *err, size_t errlen) {
  char q[IPC_QUOTE_MAX];
  const char *v = slot->value;

  /* The path may be echoed in messages to the parent, which are lines. */
  if (v && strchr(v, '\n')) {
    snprintf(err, errlen, "bad state directory %s in %s: contains a newline",
             ipc_quote(v, q, sizeof q), slot->source);
    return -1;
  }
  if (ipc_setting_present(slot) && v[0] == '/') {
    *out = xstrdup(v);
    return 0;
  }
  char *cwd = getcwd(NULL, 0);
  if (!cwd) {
    snprintf(err, errlen, "cannot find the working directory for the state directory: %s",
             strerror(errno));
    return -1;
  }
  if (!ipc_setting_present(slot)) {
    *out = cwd;
    return 0;
  }
  size_t clen = strlen(cwd);
  bool slash = clen > 0 && cwd[clen - 1] == '/';
  char *path = NULL;
  if (asprintf(&path, "%s%s%s", cwd, slash ? "" : "/", v) < 0)
    xalloc_die();
  free(cwd);
  *out = path;
  return 0;
}

/* -client/-server decide; without them, which variable the parent set;
 * with only -transports, a server is recognised by its server-only
 * settings. */
static int config_role(const ipc_settings_t *s, ptd_role_t *role, char *err,
                       size_t errlen) {
  bool client, server;

  if (ipc_setting_bool(&s->opt[IPC_OPT_CLIENT], &client, err, errlen) != 0 ||
      ipc_setting_bool(&s->opt[IPC_OPT_SERVER], &server, err, errlen) != 0)
    return -1;
  if (client && server) {
    snprintf(err, errlen, "-client and -server both given");
    return -1;
  }
  if (client || server) {
    *role = client ? PTD_ROLE_CLIENT : PTD_ROLE_SERVER;
    return 0;
  }
  bool ct = ipc_setting_present(&s->opt[IPC_OPT_CLIENT_TRANSPORTS]);
  bool st = ipc_setting_present(&s->opt[IPC_OPT_SERVER_TRANSPORTS]);
  if (ct && st) {
    snprintf(err, errlen,
             "TOR_PT_CLIENT_TRANSPORTS and TOR_PT_SERVER_TRANSPORTS are both set");
    return -1;
  }
  if (ct || st) {
    *role = ct ? PTD_ROLE_CLIENT : PTD_ROLE_SERVER;
    return 0;
  }
  if (ipc_setting_present(&s->opt[IPC_OPT_TRANSPORTS])) {
    bool server_only = ipc_setting_present(&s->opt[IPC_OPT_ORPORT]) ||
                       ipc_setting_present(&s->opt[IPC_OPT_EXTORPORT]) ||
                       ipc_setting_present(&s->opt[IPC_OPT_BINDADDR]);
    *role = server_only ? PTD_ROLE_SERVER : PTD_ROLE_CLIENT;
    return 0;
  }
  snprintf(err, errlen, "no transports requested: set TOR_PT_CLIENT_TRANSPORTS, "
                        "TOR_PT_SERVER_TRANSPORTS or -transports");
  return -1;
}

/* Fills cfg->transports from -transports, else the role's variable, and
 * says in *source where the list came from. */
static int config_transports(const ipc_settings_t *s, ptd_config_t *cfg,
                             const char **source, char *err, size_t errlen) {
  const ipc_setting_t *slot = &s->opt[IPC_OPT_TRANSPORTS];
  char q[IPC_QUOTE_MAX], reason[CONFIG_REASON_MAX];

  if (!slot->value)
    slot = &s->opt[cfg->role == PTD_ROLE_CLIENT ? IPC_OPT_CLIENT_TRANSPORTS
                                                : IPC_OPT_SERVER_TRANSPORTS];
  if (!slot->value) {
    snprintf(err, errlen, "no transports requested: set %s or -transports",
             ipc_opt_specs[cfg->role == PTD_ROLE_CLIENT ? IPC_OPT_CLIENT_TRANSPORTS
                                                        : IPC_OPT_SERVER_TRANSPORTS]
                 .env);
    return -1;
  }
  if (ipc_parse_transport_list(slot->value, &cfg->transports, &cfg->n_transports, reason,
                               sizeof reason) != 0) {
    snprintf(err, errlen, "bad transport list %s in %s: %s",
             ipc_quote(slot->value, q, sizeof q), slot->source, reason);
    return -1;
  }
  *source = slot->source;
  return 0;
}

/* -mode names the mode; -transparent and -udp are shapeshifter-dispatcher's
 * spelling of the same choice, so they may agree with -mode but not
 * contradict it. */
static int config_mode(const ipc_settings_t *s, ptd_config_t *cfg, char *err,
                       size_t errlen) {
  const ipc_setting_t *slot = &s->opt[IPC_OPT_MODE];
  bool transparent, udp;
  const char *implied_by = NULL;
  ptd_mode_t implied = PTD_MODE_SOCKS5;
  char q[IPC_QUOTE_MAX];

  if (ipc_setting_bool(&s->opt[IPC_OPT_TRANSPARENT], &transparent, err, errlen) != 0 ||
      ipc_setting_bool(&s->opt[IPC_OPT_UDP], &udp, err, errlen) != 0)
    return -1;
  if (transparent && udp) {
    implied = PTD_MODE_TRANSPARENT_UDP;
    implied_by = "-transparent and -udp";
  } else if (transparent) {
    implied = PTD_MODE_TRANSPARENT_TCP;
    implied_by = "-transparent";
  } else if (udp) {
    implied = PTD_MODE_STUN;
    implied_by = "-udp";
  }
  cfg->mode = implied;
  if (!ipc_setting_present(slot))
    return 0;
  if (ipc_parse_mode(slot->value, &cfg->mode) != 0) {
    snprintf(err, errlen,
             "bad mode %s in %s: want socks5, transparent-TCP, transparent-UDP or STUN",
             ipc_quote(slot->value, q, sizeof q), slot->source);
    return -1;
  }
  if (implied_by && cfg->mode != implied) {
    snprintf(err, errlen, "%s %s conflicts with %s", slot->source,
             ipc_mode_name(cfg->mode), implied_by);
    return -1;
  }
  return 0;
}

/* Reads a whole options file (at most CONFIG_OPTIONS_FILE_MAX bytes) into
 * a new NUL-terminated string in *out. Only regular files: opening a FIFO
 * or a device could block or never end. */
static int config_read_file(const ipc_setting_t *slot, char **out, char *err,
                            size_t errlen) {
  char q[IPC_QUOTE_MAX];
  const char *why = NULL;
  struct stat st;
  char *buf = NULL;
  size_t len = 0;

  ipc_quote(slot->value, q, sizeof q);
  int fd = open(slot->value, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0 || fstat(fd, &st) != 0) {
    why = strerror(errno);
    goto fail;
  }
  if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
    goto fail;
  }
  if (st.st_size > CONFIG_OPTIONS_FILE_MAX) {
    why = "larger than 1 MiB";
    goto fail;
  }
  /* st_size is only a hint (files in /proc say 0): read up to one byte
   * past the limit to tell "exactly 1 MiB" from "more". */
  buf = xreallocarray(NULL, CONFIG_OPTIONS_FILE_MAX + 2, 1);
  while (len <= CONFIG_OPTIONS_FILE_MAX) {
    ssize_t got = read(fd, buf + len, CONFIG_OPTIONS_FILE_MAX + 1 - len);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      why = strerror(errno);
      goto fail;
    }
    if (got == 0)
      break;
    len += (size_t)got;
  }
  if (len > CONFIG_OPTIONS_FILE_MAX) {
    why = "larger than 1 MiB";
    goto fail;
  }
  if (memchr(buf, '\0', len)) {
    why = "contains a NUL byte";
    goto fail;
  }
  buf[len] = '\0';
  close(fd);
  *out = buf;
  return 0;

fail:
  snprintf(err, errlen, "cannot read options file %s given in %s: %s", q, slot->source,
           why);
  free(buf);
  if (fd >= 0)
    close(fd);
  return -1;
}

static int config_options_file(const ipc_settings_t *s, ptd_config_t *cfg, char *err,
                               size_t errlen) {
  const ipc_setting_t *file = &s->opt[IPC_OPT_OPTIONS_FILE];
  char q[IPC_QUOTE_MAX], reason[CONFIG_REASON_MAX];
  char *json = NULL;

  if (config_read_file(file, &json, err, errlen) != 0)
    return -1;
  int rc = ipc_options_parse_json(json, (const char *const *)cfg->transports,
                                  cfg->n_transports, &cfg->options, reason, sizeof reason);
  free(json);
  if (rc != 0) {
    snprintf(err, errlen, "bad options in %s %s: %s", file->source,
             ipc_quote(file->value, q, sizeof q), reason);
    return -1;
  }
  return 0;
}

/* Copies item into out up to its first unescaped '=' and marks a cut
 * value with "...": a mistyped item may still carry a key or password in
 * its value. Returns out. */
static const char *config_redact_value(const char *item, char *out, size_t outlen) {
  for (const char *p = item; *p; p++) {
    if (*p == '\\' && p[1]) {
      p++;
      continue;
    }
    if (*p == '=' && p[1]) {
      snprintf(out, outlen, "%.*s...", (int)(p + 1 - item), item);
      return out;
    }
  }
  snprintf(out, outlen, "%s", item);
  return out;
}

/* Finds the first ';'-separated item of escaped options that fails to
 * parse on its own (a syntax error, as opposed to a clash between items)
 * and quotes it into q. Returns false when every item parses alone. */
static bool config_options_bad_item(const char *text, char q[static IPC_QUOTE_MAX]) {
  const char *start = text;
  for (const char *p = text;; p++) {
    if (*p == '\\' && p[1]) {
      p++;
      continue;
    }
    if (*p != ';' && *p != '\0')
      continue;
    char *item = xstrndup(start, (size_t)(p - start));
    ipc_options_t tmp;
    char e[CONFIG_REASON_MAX];
    memset(&tmp, 0, sizeof tmp);
    int rc = ipc_options_parse(item, &tmp, e, sizeof e);
    ipc_options_clear(&tmp);
    char shown[IPC_QUOTE_MAX];
    if (rc != 0)
      ipc_quote(config_redact_value(item, shown, sizeof shown), q, IPC_QUOTE_MAX);
    free(item);
    if (rc != 0)
      return true;
    if (*p == '\0')
      return false;
    start = p + 1;
  }
}

/* Reports a failed parse of the options slot. The whole text is never
 * quoted: it holds every transport's keys and passwords. A malformed item
 * is, up to its first '=', because nobody can fix it unseen. */
static void config_options_err(const ipc_setting_t *slot, bool json, const char *reason,
                               char *err, size_t errlen) {
  char q[IPC_QUOTE_MAX];
  if (!json && config_options_bad_item(slot->value, q))
    snprintf(err, errlen, "bad options in %s: in %s: %s", slot->source, q, reason);
  else
    snprintf(err, errlen, "bad options in %s: %s", slot->source, reason);
}

/* -optionsFile, else -options / TOR_PT_SERVER_TRANSPORT_OPTIONS in either
 * the escaped or the JSON form. */
static int config_options(const ipc_settings_t *s, ptd_config_t *cfg, char *err,
                          size_t errlen) {
  const ipc_setting_t *slot = &s->opt[IPC_OPT_OPTIONS];
  char reason[CONFIG_REASON_MAX];
  int rc;

  if (ipc_setting_present(&s->opt[IPC_OPT_OPTIONS_FILE])) {
    if (slot->from_flag && ipc_setting_present(slot)) {
      snprintf(err, errlen, "%s and %s both given: use one", slot->source,
               s->opt[IPC_OPT_OPTIONS_FILE].source);
      return -1;
    }
    return config_options_file(s, cfg, err, errlen);
  }
  if (!ipc_setting_present(slot))
    return 0;
  const char *first = slot->value + strspn(slot->value, " \t\r\n");
  bool json = *first == '{';
  if (json)
    rc = ipc_options_parse_json(slot->value, (const char *const *)cfg->transports,
                                cfg->n_transports, &cfg->options, reason, sizeof reason);
  else
    rc = ipc_options_parse(slot->value, &cfg->options, reason, sizeof reason);
  if (rc != 0) {
    config_options_err(slot, json, reason, err, errlen);
    return -1;
  }
  return 0;
}

/* Every bind address must name a transport we were asked to run; one for
 * another transport means the parent and we disagree about the list. */
static int config_bindaddrs(const ipc_settings_t *s, ptd_config_t *cfg,
                            const char *list_source, char *err, size_t errlen) {
  const ipc_setting_t *slot = &s->opt[IPC_OPT_BINDADDR];
  char q[IPC_QUOTE_MAX], reason[CONFIG_REASON_MAX];

  if (!ipc_setting_present(slot))
    return 0;
  if (ipc_parse_bindaddr(slot->value, &cfg->bindaddrs, &cfg->n_bindaddrs, reason,
                         sizeof reason) != 0) {
    snprintf(err, errlen, "bad bind address %s in %s: %s",
             ipc_quote(slot->value, q, sizeof q), slot->source, reason);
    return -1;
  }
  for (size_t i = 0; i < cfg->n_bindaddrs; i++) {
    const char *name = cfg->bindaddrs[i].transport;
    char qname[IPC_QUOTE_MAX];
    if (!config_names_have(cfg->transports, cfg->n_transports, name, strlen(name))) {
      snprintf(err, errlen, "bad bind address %s in %s: transport %s is not in %s",
               ipc_quote(slot->value, q, sizeof q), slot->source,
               ipc_quote(name, qname, sizeof qname), list_source);
      return -1;
    }
  }
  return 0;
}

/* Names the cookie setting for an error when it is missing: the one that
 * was given (if empty), else the spelling that matches the ExtORPort's. */
static const char *config_cookie_source(const ipc_settings_t *s) {
  const ipc_setting_t *cookie = &s->opt[IPC_OPT_AUTHCOOKIE];
  if (cookie->value)
    return cookie->source;
  if (s->opt[IPC_OPT_EXTORPORT].from_flag)
    return "-authcookie";
  return "TOR_PT_AUTH_COOKIE_FILE";
}

/* An empty TOR_PT_EXTENDED_SERVER_PORT is the spec's "no ExtORPort". */
static int config_extorport(const ipc_settings_t *s, ptd_config_t *cfg, char *err,
                            size_t errlen) {
  const ipc_setting_t *slot = &s->opt[IPC_OPT_EXTORPORT];
  const ipc_setting_t *cookie = &s->opt[IPC_OPT_AUTHCOOKIE];

  if (!ipc_setting_present(slot))
    return 0;
  if (config_endpoint(slot, "Extended ORPort", ADDR_ALLOW_NAME, &cfg->extorport, err,
                      errlen) != 0)
    return -1;
  if (!ipc_setting_present(cookie)) {
    snprintf(err, errlen, "no %s when %s is set", config_cookie_source(s), slot->source);
    return -1;
  }
  cfg->has_extorport = true;
  cfg->auth_cookie_file = xstrdup(cookie->value);
  return 0;
}

/* Where a server sends plaintext: -orport, else -target (the reference
 * dispatcher's spelling), else TOR_PT_ORPORT. */
static const ipc_setting_t *config_orport_slot(const ipc_settings_t *s) {
  const ipc_setting_t *orport = &s->opt[IPC_OPT_ORPORT];
  const ipc_setting_t *target = &s->opt[IPC_OPT_TARGET];
  if (orport->from_flag && ipc_setting_present(orport))
    return orport;
  if (ipc_setting_present(target))
    return target;
  if (ipc_setting_present(orport))
    return orport;
  return NULL;
}

static int config_server(const ipc_settings_t *s, ptd_config_t *cfg,
                         const char *list_source, char *err, size_t errlen) {
  const ipc_setting_t *orport = config_orport_slot(s);

  if (config_bindaddrs(s, cfg, list_source, err, errlen) != 0)
    return -1;
  if (orport) {
    if (config_endpoint(orport, "ORPort", ADDR_ALLOW_NAME, &cfg->orport, err, errlen) != 0)
      return -1;
    cfg->has_orport = true;
  }
  if (config_extorport(s, cfg, err, errlen) != 0)
    return -1;
  if (!cfg->has_orport && !cfg->has_extorport) {
    snprintf(err, errlen, "server needs TOR_PT_ORPORT or TOR_PT_EXTENDED_SERVER_PORT");
    return -1;
  }
  return 0;
}

/* A SOCKS client learns its destination per connection; the transparent
 * and STUN modes have no such channel, so -target must name the server. */
static int config_client(const ipc_settings_t *s, ptd_config_t *cfg, char *err,
                         size_t errlen) {
  const ipc_setting_t *target = &s->opt[IPC_OPT_TARGET];

  if (ipc_setting_present(target)) {
    if (config_endpoint(target, "target", ADDR_ALLOW_NAME, &cfg->target, err, errlen) != 0)
      return -1;
    cfg->has_target = true;
  }
  if (cfg->mode != PTD_MODE_SOCKS5 && !cfg->has_target) {
    snprintf(err, errlen, "-mode %s needs -target", ipc_mode_name(cfg->mode));
    return -1;
  }
  return 0;
}

/* An outbound source address: a bare IP literal of the given family (an
 * IPv6 one with or without brackets), kept with port 0. */
static int config_outbound(const ipc_setting_t *slot, int family, addr_endpoint_t *out,
                           bool *has, char *err, size_t errlen) {
  char q[IPC_QUOTE_MAX];
  struct sockaddr_storage ss;
  socklen_t len = 0;

  if (!ipc_setting_present(slot))
    return 0;
  memset(&ss, 0, sizeof ss);
  if (addr_parse_ip(slot->value, &ss, &len) != 0 || ss.ss_family != family) {
    snprintf(err, errlen, "bad outbound address %s in %s: want an %s address without a port",
             ipc_quote(slot->value, q, sizeof q), slot->source,
             family == AF_INET ? "IPv4" : "IPv6");
    return -1;
  }
  /* addr_parse_ip leaves the port 0, which is what a source address wants. */
  addr_endpoint_from_sockaddr(out, (const struct sockaddr *)&ss);
  *has = true;
  return 0;
}

static int config_logging(const ipc_settings_t *s, ptd_config_t *cfg, char *err,
                          size_t errlen) {
  const ipc_setting_t *slot = &s->opt[IPC_OPT_LOGLEVEL];
  char q[IPC_QUOTE_MAX];

  cfg->log_level = PTD_LOG_WARN;
  if (ipc_setting_present(slot) && log_level_parse(slot->value, &cfg->log_level) != 0) {
    snprintf(err, errlen, "bad log level %s in %s: want ERROR, WARN, INFO or DEBUG",
             ipc_quote(slot->value, q, sizeof q), slot->source);
    return -1;
  }
  if (ipc_setting_bool(&s->opt[IPC_OPT_ENABLE_LOGGING], &cfg->enable_logging, err,
                       errlen) != 0 ||
      ipc_setting_bool(&s->opt[IPC_OPT_UNSAFE_LOGGING], &cfg->unsafe_logging, err,
                       errlen) != 0)
    return -1;
  return 0;
}

int ipc_parse_count(const char *text, unsigned long long min, unsigned long long max,
                    unsigned long long *out) {
  unsigned long long v = 0;
  if (!text || !*text || strlen(text) > 20)
    return -1;
  for (const char *p = text; *p; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    unsigned long long d = (unsigned long long)(*p - '0');
    if (v > (ULLONG_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  if (v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

/* One tuning knob: unset keeps the default already in *out. */
static int config_count(const ipc_setting_t *slot, unsigned long long min,
                        unsigned long long max, unsigned long long *out, char *err,
                        size_t errlen) {
  char q[IPC_QUOTE_MAX];
  if (!ipc_setting_present(slot))
    return 0;
  if (ipc_parse_count(slot->value, min, max, out) != 0) {
    snprintf(err, errlen, "bad value %s in %s: want a whole number from %llu to %llu",
             ipc_quote(slot->value, q, sizeof q), slot->source, min, max);
    return -1;
  }
  return 0;
}

/* Limits and timeouts. A day bounds the timeouts (timer arithmetic stays
 * far from overflow); 16 MiB bounds a settings block. */
static int config_tuning(const ipc_settings_t *s, ptd_config_t *cfg, char *err,
                         size_t errlen) {
  unsigned long long maxconn = 0, hs = PTD_DEFAULT_HANDSHAKE_TIMEOUT_S, idle = 0,
                     params = PTD_DEFAULT_PARAMS_LIMIT, udp_timeout = PTD_DEFAULT_UDP_TIMEOUT_S,
                     udp_queue = PTD_DEFAULT_UDP_QUEUE;
  if (config_count(&s->opt[IPC_OPT_MAX_CONNECTIONS], 1, 10000000, &maxconn, err, errlen) != 0 ||
      config_count(&s->opt[IPC_OPT_HANDSHAKE_TIMEOUT], 1, 86400, &hs, err, errlen) != 0 ||
      config_count(&s->opt[IPC_OPT_IDLE_TIMEOUT], 0, 86400, &idle, err, errlen) != 0 ||
      config_count(&s->opt[IPC_OPT_PARAMS_LIMIT], 2, 16 << 20, &params, err, errlen) != 0 ||
      config_count(&s->opt[IPC_OPT_UDP_TIMEOUT], 1, 86400, &udp_timeout, err, errlen) != 0 ||
      config_count(&s->opt[IPC_OPT_UDP_QUEUE], 0, 1024, &udp_queue, err, errlen) != 0)
    return -1;
  cfg->max_connections = (size_t)maxconn;
  cfg->handshake_timeout_s = (unsigned)hs;
  cfg->idle_timeout_s = (unsigned)idle;
  cfg->params_limit = (size_t)params;
  cfg->udp_timeout_s = (unsigned)udp_timeout;
  cfg->udp_queue = (size_t)udp_queue;
  return 0;
}

static int config_addresses(const ipc_settings_t *s, ptd_config_t *cfg, char *err,
                            size_t errlen) {
  const ipc_setting_t *listen = &s->opt[IPC_OPT_PROXYLISTENADDR];

  if (config_outbound(&s->opt[IPC_OPT_OUTBOUND_V4], AF_INET, &cfg->outbound_v4,
                      &cfg->has_outbound_v4, err, errlen) != 0 ||
      config_outbound(&s->opt[IPC_OPT_OUTBOUND_V6], AF_INET6, &cfg->outbound_v6,
                      &cfg->has_outbound_v6, err, errlen) != 0)
    return -1;
  if (ipc_setting_present(listen)) {
    if (config_endpoint(listen, "listen address", ADDR_ALLOW_PORT0, &cfg->listen_addr, err,
                        errlen) != 0)
      return -1;
    cfg->has_listen_addr = true;
  }
  return 0;
}

int ipc_config_build(const ipc_settings_t *s, ptd_config_t *cfg, char *err,
                     size_t errlen) {
  const char *list_source = NULL;

  if (config_state_dir(&s->opt[IPC_OPT_STATE], &cfg->state_dir, err, errlen) != 0 ||
      ipc_setting_bool(&s->opt[IPC_OPT_EXIT_ON_STDIN_CLOSE], &cfg->exit_on_stdin_close,
                       err, errlen) != 0 ||
      config_role(s, &cfg->role, err, errlen) != 0 ||
      config_transports(s, cfg, &list_source, err, errlen) != 0 ||
      config_mode(s, cfg, err, errlen) != 0 || config_options(s, cfg, err, errlen) != 0)
    return -1;
  if (cfg->role == PTD_ROLE_SERVER) {
    if (config_server(s, cfg, list_source, err, errlen) != 0)
      return -1;
  } else if (config_client(s, cfg, err, errlen) != 0) {
    return -1;
  }
  if (config_addresses(s, cfg, err, errlen) != 0 || config_logging(s, cfg, err, errlen) != 0 ||
      config_tuning(s, cfg, err, errlen) != 0)
    return -1;
  /* The caller parses the proxy: its failure is a PROXY-ERROR. */
  cfg->has_proxy = false;
  return 0;
}

const addr_endpoint_t *ipc_config_bindaddr(const ptd_config_t *cfg, const char *transport) {
  for (size_t i = 0; i < cfg->n_bindaddrs; i++) {
    if (strcmp(cfg->bindaddrs[i].transport, transport) == 0)
      return &cfg->bindaddrs[i].addr;
  }
  return NULL;
}

void ipc_config_clear(ptd_config_t *cfg) {
  if (!cfg)
    return;
  free(cfg->state_dir);
  config_free_names(cfg->transports, cfg->n_transports);
  ipc_options_clear(&cfg->options);
  config_free_bindaddrs(cfg->bindaddrs, cfg->n_bindaddrs);
  free(cfg->auth_cookie_file);
  /* Zeroing also wipes the proxy credentials the caller may have parsed. */
  memset(cfg, 0, sizeof *cfg);
}
