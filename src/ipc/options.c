/* options: per-transport options in Tor's escaped form and in JSON.
 *
 * Both parsers first build a private ipc_options_t and only then merge it
 * into the caller's: a failed parse leaves `out` exactly as it was, so a
 * caller can report the error without half-applied options.
 *
 * Escaped form: items "name:key=value" separated by ';'. This file cuts
 * off each "name:" (a '=' or ';' before the ':' is an error, as in
 * goptlib) and lib/kvparse reads the "key=value" after it, where ':' is
 * literal and so is every '=' after the first: Tor escapes only ':', ';'
 * and '\' when it builds TOR_PT_SERVER_TRANSPORT_OPTIONS. Both halves
 * scan left to right, so the first bad byte decides the error. The JSON
 * values become text by kvparse's rule too, the one per-connection
 * arguments follow.
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
#include "lib/kvparse.h"
#include "lib/xalloc.h"

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

/* The transport name of the item at text[0..len), up to its first
 * unescaped ':'. A '=' or ';' (or the end) before the ':' means the item
 * has no name (goptlib refuses it too). Returns the name, new, or NULL
 * with err filled; *used gets the length of "name:". */
static char *opt_scan_name(const char *text, size_t len, size_t *used, char *err,
                           size_t errlen) {
  ptrdiff_t n = kvparse_find(text, len, ":=;");
  if (n < 0) {
    opt_err(err, errlen, "trailing backslash");
    return NULL;
  }
  if ((size_t)n == len || text[n] != ':') {
    opt_err(err, errlen, "missing ':' after transport name");
    return NULL;
  }
  if (n == 0) {
    opt_err(err, errlen, "empty transport name");
    return NULL;
  }
  char *name = kvparse_unescape(text, (size_t)n);
  if (!ipc_transport_name_ok(name, strlen(name))) {
    opt_err(err, errlen, "transport name is not a C identifier");
    free(name);
    return NULL;
  }
  *used = (size_t)n + 1;
  return name;
}

/* One item "name:key=value": the name here, the rest by lib/kvparse, whose
 * item syntax is exactly ours after the ':' (there ':' is literal, and so
 * is every '=' after the first). Returns the item's length, or -1. */
static ptrdiff_t opt_scan_item(const char *text, size_t len, ipc_options_t *o, char *err,
                               size_t errlen) {
  size_t name_len, kv_len;
  char *key, *value;
  char *name = opt_scan_name(text, len, &name_len, err, errlen);
  if (!name)
    return -1;
  if (kvparse_item(text + name_len, len - name_len, "option", &kv_len, &key, &value, err,
                   errlen) != 0) {
    free(name);
    return -1;
  }
  int rc = opt_add(o, name, key, value, err, errlen);
  free(name);
  free(key);
  free(value);
  return rc == 0 ? (ptrdiff_t)(name_len + kv_len) : -1;
}

static int opt_scan_all(const char *text, ipc_options_t *o, char *err, size_t errlen) {
  size_t len = strlen(text);
  size_t pos = 0;
  while (pos < len) {
    if (text[pos] == ';') {
      pos++; /* ";;" or a trailing ';' */
      continue;
    }
    ptrdiff_t used = opt_scan_item(text + pos, len - pos, o, err, errlen);
    if (used < 0)
      return -1;
    pos += (size_t)used + 1; /* the ';', or one past the end */
  }
  return 0;
}

int ipc_options_parse(const char *text, ipc_options_t *out, char *err, size_t errlen) {
  if (!out) {
    opt_err(err, errlen, "no output");
    return -1;
  }
  if (!text)
    return 0;
  ipc_options_t tmp = {0};
  if (opt_scan_all(text, &tmp, err, errlen) != 0) {
    ipc_options_clear(&tmp);
    return -1;
  }
  return opt_merge(out, &tmp, err, errlen);
}

/* ---- JSON form ---- */

/* Adds every member of obj as an option of transport. Duplicates cannot
 * come from one object (the loader refuses them), so kvparse's errors are
 * about keys and values only. */
static int opt_json_add_object(ipc_options_t *o, const char *transport,
                               const json_t *obj, char *err, size_t errlen) {
  /* A transport named with {} still appears. */
  return kvparse_json_object(obj, opt_entry(o, transport)->kv, err, errlen);
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
  json_t *root = kvparse_json_load(json, strlen(json), err, errlen);
  if (!root)
    return -1;
  ipc_options_t tmp = {0};
  int rc = opt_json_apply(root, transports, n_transports, &tmp, err, errlen);
  json_decref(root);
  if (rc != 0) {
    ipc_options_clear(&tmp);
    return -1;
  }
  return opt_merge(out, &tmp, err, errlen);
}
