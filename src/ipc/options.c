/* options: per-transport options in Tor's escaped form and in JSON.
 *
 * Both parsers first build a private ipc_options_t and only then merge it
 * into the caller's: a failed parse leaves `out` exactly as it was, so a
 * caller can report the error without half-applied options.
 *
 * Escaped form, scanned once left to right with three states:
 *   NAME  --':'-->  KEY  --'='-->  VALUE  --';'-->  NAME
 * A backslash makes the next byte literal in any state. In NAME a '=' or
 * ';' before the ':' is an error (goptlib does the same); in KEY and VALUE
 * a ':' is literal, and in VALUE so is '=', because Tor escapes only
 * ':', ';' and '\' when it builds TOR_PT_SERVER_TRANSPORT_OPTIONS.
 *
 * Error texts may name a transport or key, never a value (values can be
 * secrets, such as an obfs4 private key). Names go through ipc_quote so a
 * control byte cannot split the ENV-ERROR line the caller prints. */
#include "ipc/options.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/settings.h"
#include "lib/xalloc.h"

/* A double prints exactly with 17 significant digits. */
#define OPT_REAL_PRECISION_MAX 17

/* jansson's error text can quote a raw token; keep the err line printable. */
static void opt_err_printable(char *err) {
  for (; *err; err++) {
    if (*err < 0x20 || *err >= 0x7f)
      *err = '?';
  }
}

static void opt_err(char *err, size_t errlen, const char *msg) {
  if (err && errlen)
    snprintf(err, errlen, "%s", msg);
}

static void opt_err_dup(char *err, size_t errlen, const char *transport,
                        const char *key) {
  char qt[IPC_QUOTE_MAX], qk[IPC_QUOTE_MAX];
  if (err && errlen)
    snprintf(err, errlen, "duplicate key %s for transport %s", ipc_quote(key, qk, sizeof qk),
             ipc_quote(transport, qt, sizeof qt));
}

/* ---- the options list ---- */

static ipc_transport_options_t *opt_find(const ipc_options_t *o,
                                         const char *transport) {
  if (!o || !transport)
    return NULL;
  for (size_t i = 0; i < o->n; i++) {
    if (strcmp(o->items[i].transport, transport) == 0)
      return &o->items[i];
  }
  return NULL;
}

/* Returns the entry for transport, creating an empty one if needed. */
static ipc_transport_options_t *opt_entry(ipc_options_t *o, const char *transport) {
  ipc_transport_options_t *t = opt_find(o, transport);
  if (t)
    return t;
  o->items = xreallocarray(o->items, o->n + 1, sizeof *o->items);
  t = &o->items[o->n];
  t->transport = xstrdup(transport);
  t->kv = kvlist_new();
  o->n++;
  return t;
}

static int opt_add(ipc_options_t *o, const char *transport, const char *key,
                   const char *value, char *err, size_t errlen) {
  if (kvlist_add(opt_entry(o, transport)->kv, key, value) != 0) {
    opt_err_dup(err, errlen, transport, key);
    return -1;
  }
  return 0;
}

/* Moves everything in src into dst, or changes nothing and returns -1 if a
 * key of src is already set for the same transport in dst. Clears src. */
static int opt_merge(ipc_options_t *dst, ipc_options_t *src, char *err,
                     size_t errlen) {
  for (size_t i = 0; i < src->n; i++) {
    const ipc_transport_options_t *s = &src->items[i];
    const ipc_transport_options_t *d = opt_find(dst, s->transport);
    for (size_t k = 0; d && k < s->kv->n; k++) {
      if (kvlist_get(d->kv, s->kv->items[k].key)) {
        opt_err_dup(err, errlen, s->transport, s->kv->items[k].key);
        ipc_options_clear(src);
        return -1;
      }
    }
  }
  for (size_t i = 0; i < src->n; i++) {
    const ipc_transport_options_t *s = &src->items[i];
    ipc_transport_options_t *d = opt_entry(dst, s->transport);
    for (size_t k = 0; k < s->kv->n; k++)
      kvlist_add(d->kv, s->kv->items[k].key, s->kv->items[k].value);
  }
  ipc_options_clear(src);
  return 0;
}

const kvlist_t *ipc_options_get(const ipc_options_t *o, const char *transport) {
  const ipc_transport_options_t *t = opt_find(o, transport);
  return t ? t->kv : NULL;
}

void ipc_options_clear(ipc_options_t *o) {
  if (!o)
    return;
  for (size_t i = 0; i < o->n; i++) {
    free(o->items[i].transport);
    kvlist_free(o->items[i].kv);
  }
  free(o->items);
  o->items = NULL;
  o->n = 0;
}

/* ---- escaped form ---- */

/* ASCII only: isalpha() would follow the locale. */
static bool opt_is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool ipc_transport_name_ok(const char *s, size_t len) {
  if (len == 0 || !opt_is_ident_start(s[0]))
    return false;
  for (size_t i = 1; i < len; i++) {
    if (!opt_is_ident_start(s[i]) && !(s[i] >= '0' && s[i] <= '9'))
      return false;
  }
  return true;
}

typedef enum { OPT_NAME, OPT_KEY, OPT_VALUE } opt_state_t;

/* The scanner's state. The three fields are unescaped copies; each is at
 * most as long as the input, so they are allocated at that size once. */
typedef struct opt_scan {
  opt_state_t state;
  char *name, *key, *value;
  size_t name_len, key_len, value_len;
  bool item_started; /* any byte seen since the last ';' */
} opt_scan_t;

static void opt_scan_reset(opt_scan_t *s) {
  s->state = OPT_NAME;
  s->name_len = s->key_len = s->value_len = 0;
  s->item_started = false;
}

static void opt_scan_push(opt_scan_t *s, char c) {
  if (s->state == OPT_NAME)
    s->name[s->name_len++] = c;
  else if (s->state == OPT_KEY)
    s->key[s->key_len++] = c;
  else
    s->value[s->value_len++] = c;
}

static int opt_end_name(opt_scan_t *s, char *err, size_t errlen) {
  s->name[s->name_len] = '\0';
  if (s->name_len == 0) {
    opt_err(err, errlen, "empty transport name");
    return -1;
  }
  if (!ipc_transport_name_ok(s->name, strlen(s->name))) {
    opt_err(err, errlen, "transport name is not a C identifier");
    return -1;
  }
  s->state = OPT_KEY;
  return 0;
}

static int opt_end_key(opt_scan_t *s, char *err, size_t errlen) {
  s->key[s->key_len] = '\0';
  if (s->key_len == 0) {
    opt_err(err, errlen, "empty key");
    return -1;
  }
  s->state = OPT_VALUE;
  return 0;
}

/* Ends an item at an unescaped ';' or the end of the text. */
static int opt_end_item(opt_scan_t *s, ipc_options_t *o, char *err, size_t errlen) {
  if (!s->item_started)
    return 0; /* ";;" or a trailing ';' */
  if (s->state == OPT_NAME) {
    opt_err(err, errlen, "missing ':' after transport name");
    return -1;
  }
  if (s->state == OPT_KEY) {
    opt_err(err, errlen, "missing '=' in option");
    return -1;
  }
  s->value[s->value_len] = '\0';
  if (opt_add(o, s->name, s->key, s->value, err, errlen) != 0)
    return -1;
  opt_scan_reset(s);
  return 0;
}

/* Handles one unescaped byte that may be a separator. */
static int opt_scan_byte(opt_scan_t *s, char c, ipc_options_t *o, char *err,
                         size_t errlen) {
  if (c == ';')
    return opt_end_item(s, o, err, errlen);
  s->item_started = true;
  if (s->state == OPT_NAME && c == ':')
    return opt_end_name(s, err, errlen);
  if (s->state == OPT_NAME && c == '=') {
    opt_err(err, errlen, "missing ':' after transport name");
    return -1;
  }
  if (s->state == OPT_KEY && c == '=')
    return opt_end_key(s, err, errlen);
  opt_scan_push(s, c);
  return 0;
}

static int opt_scan_all(const char *text, opt_scan_t *s, ipc_options_t *o,
                        char *err, size_t errlen) {
  for (const char *p = text; *p; p++) {
    if (*p == '\\') {
      if (p[1] == '\0') {
        opt_err(err, errlen, "trailing backslash");
        return -1;
      }
      s->item_started = true;
      opt_scan_push(s, *++p);
      continue;
    }
    if (opt_scan_byte(s, *p, o, err, errlen) != 0)
      return -1;
  }
  return opt_end_item(s, o, err, errlen);
}

int ipc_options_parse(const char *text, ipc_options_t *out, char *err, size_t errlen) {
  if (!out) {
    opt_err(err, errlen, "no output");
    return -1;
  }
  if (!text)
    return 0;
  size_t n = strlen(text) + 1;
  opt_scan_t s = {.name = xmalloc(n), .key = xmalloc(n), .value = xmalloc(n)};
  opt_scan_reset(&s);
  ipc_options_t tmp = {0};
  int rc = opt_scan_all(text, &s, &tmp, err, errlen);
  free(s.name);
  free(s.key);
  free(s.value);
  if (rc != 0) {
    ipc_options_clear(&tmp);
    return -1;
  }
  return opt_merge(out, &tmp, err, errlen);
}

/* ---- JSON form ---- */

/* A real as its shortest text that reads back as the same double, so 0.1
 * gives "0.1" and not jansson's default "0.10000000000000001". */
static char *opt_json_real_text(const json_t *v) {
  double d = json_real_value(v);
  char *text = NULL;
  for (int p = 1; p <= OPT_REAL_PRECISION_MAX; p++) {
    free(text);
    text = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(p));
    if (!text)
      xalloc_die();
    if (strtod(text, NULL) == d)
      break;
  }
  return text;
}

/* Returns an option value as newly allocated text, or NULL (with err
 * filled) for a string holding a NUL byte. */
static char *opt_json_value_text(const char *key, const json_t *v, char *err,
                                 size_t errlen) {
  char *text;
  if (json_is_string(v)) {
    if (json_string_length(v) != strlen(json_string_value(v))) {
      char qk[IPC_QUOTE_MAX];
      if (err && errlen)
        snprintf(err, errlen, "value of option %s contains a NUL byte",
                 ipc_quote(key, qk, sizeof qk));
      return NULL;
    }
    text = xstrdup(json_string_value(v));
  } else if (json_is_real(v)) {
    text = opt_json_real_text(v);
  } else {
    text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
  }
  if (!text)
    xalloc_die();
  return text;
}

/* Adds every member of obj as an option of transport. */
static int opt_json_add_object(ipc_options_t *o, const char *transport,
                               const json_t *obj, char *err, size_t errlen) {
  const char *key;
  json_t *v;
  opt_entry(o, transport); /* a transport named with {} still appears */
  json_object_foreach((json_t *)obj, key, v) {
    if (key[0] == '\0') {
      opt_err(err, errlen, "empty key");
      return -1;
    }
    char *text = opt_json_value_text(key, v, err, errlen);
    if (!text)
      return -1;
    int rc = opt_add(o, transport, key, text, err, errlen);
    free(text);
    if (rc != 0)
      return -1;
  }
  return 0;
}

static bool opt_is_named(const char *key, const char *const *transports, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (transports[i] && strcmp(transports[i], key) == 0)
      return true;
  }
  return false;
}

/* Keyed form: every member is named after a transport and is an object. */
static bool opt_json_is_keyed(const json_t *root, const char *const *transports,
                              size_t n) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)root, key, v) {
    if (!json_is_object(v) || !opt_is_named(key, transports, n))
      return false;
  }
  return true;
}

static int opt_json_apply(const json_t *root, const char *const *transports,
                          size_t n, ipc_options_t *o, char *err, size_t errlen) {
  if (!json_is_object(root)) {
    opt_err(err, errlen, "options JSON must be an object");
    return -1;
  }
  if (opt_json_is_keyed(root, transports, n)) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
      if (opt_json_add_object(o, key, v, err, errlen) != 0)
        return -1;
    }
    return 0;
  }
  if (n == 1 && transports[0])
    return opt_json_add_object(o, transports[0], root, err, errlen);
  opt_err(err, errlen, "options JSON must be an object keyed by transport name");
  return -1;
}

int ipc_options_parse_json(const char *json, const char *const *transports,
                           size_t n_transports, ipc_options_t *out, char *err,
                           size_t errlen) {
  if (!json || !out || (n_transports > 0 && !transports)) {
    opt_err(err, errlen, "no options JSON");
    return -1;
  }
  json_error_t jerr;
  json_t *root = json_loads(json, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!root) {
    /* jansson ends its text with "near '<token>'", and the token may be
     * part of a key or password: keep only the reason and the position. */
    char *near = strstr(jerr.text, " near ");
    if (near)
      *near = '\0';
    if (err && errlen)
      snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line,
               jerr.column, jerr.text);
    if (err && errlen)
      opt_err_printable(err);
    return -1;
  }
  ipc_options_t tmp = {0};
  int rc = opt_json_apply(root, transports, n_transports, &tmp, err, errlen);
  json_decref(root);
  if (rc != 0) {
    ipc_options_clear(&tmp);
    return -1;
  }
  return opt_merge(out, &tmp, err, errlen);
}
