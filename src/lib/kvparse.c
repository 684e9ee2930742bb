/* kvparse: key/value arguments from the escaped text form and from JSON.
 *
 * The escaped form is parsed without a state machine of its own: an item
 * is cut out with kvparse_find (the first unescaped '=' or ';'), and the
 * pieces are unescaped into new strings. Because kvparse_find scans left
 * to right and reports a dangling backslash only when it reaches it,
 * errors come out in the order their bytes appear, which is what a reader
 * of the text expects (ipc/options builds its "name:" prefix on the same
 * two calls).
 *
 * Nothing here logs: errors go back to the caller, which knows whether the
 * text came from the parent or from a client. */
#include "lib/kvparse.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/quote.h"
#include "lib/xalloc.h"

#define KVPARSE_ESCAPE '\\'
#define KVPARSE_ITEM_END ';'
#define KVPARSE_KEY_END '='

/* A double prints exactly with 17 significant digits. */
#define KVPARSE_REAL_PRECISION_MAX 17

static void kvparse_err(char *err, size_t errlen, const char *msg) {
  if (err && errlen)
    snprintf(err, errlen, "%s", msg);
}

static void kvparse_err_key(char *err, size_t errlen, const char *fmt_before,
                            const char *key, const char *fmt_after) {
  char q[QUOTE_MAX];
  if (err && errlen)
    snprintf(err, errlen, "%s%s%s", fmt_before, quote_text(key, q, sizeof q), fmt_after);
}

/* ---- escaped form ---- */

ptrdiff_t kvparse_find(const char *s, size_t len, const char *stops) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] == KVPARSE_ESCAPE) {
      if (i + 1 == len)
        return -1;
      i++; /* the escaped byte is never a stop */
      continue;
    }
    /* strchr would find a NUL byte at the end of stops. */
    if (s[i] != '\0' && strchr(stops, s[i]) != NULL)
      return (ptrdiff_t)i;
  }
  return (ptrdiff_t)len;
}

char *kvparse_unescape(const char *s, size_t len) {
  char *out = xmalloc(len + 1);
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == KVPARSE_ESCAPE && ++i == len)
      break;
    out[o++] = s[i];
  }
  out[o] = '\0';
  return out;
}

int kvparse_item(const char *s, size_t len, const char *what, size_t *used, char **key,
                 char **value, char *err, size_t errlen) {
  static const char key_stops[] = {KVPARSE_KEY_END, KVPARSE_ITEM_END, '\0'};
  static const char value_stops[] = {KVPARSE_ITEM_END, '\0'};
  ptrdiff_t k = kvparse_find(s, len, key_stops);
  if (k < 0) {
    kvparse_err(err, errlen, "trailing backslash");
    return -1;
  }
  size_t klen = (size_t)k;
  if (klen == len || s[klen] != KVPARSE_KEY_END) {
    if (err && errlen)
      snprintf(err, errlen, "missing '=' in %s", what);
    return -1;
  }
  if (klen == 0) {
    kvparse_err(err, errlen, "empty key");
    return -1;
  }
  const char *v = s + klen + 1;
  size_t vmax = len - klen - 1;
  ptrdiff_t vlen = kvparse_find(v, vmax, value_stops);
  if (vlen < 0) {
    kvparse_err(err, errlen, "trailing backslash");
    return -1;
  }
  *key = kvparse_unescape(s, klen);
  *value = kvparse_unescape(v, (size_t)vlen);
  *used = klen + 1 + (size_t)vlen;
  return 0;
}

int kvparse_escaped(const char *s, size_t len, const char *what, kvlist_t **out, char *err,
                    size_t errlen) {
  *out = NULL;
  if (len > 0 && memchr(s, '\0', len) != NULL) {
    if (err && errlen)
      snprintf(err, errlen, "NUL byte in %ss", what);
    return -1;
  }
  kvlist_t *l = kvlist_new();
  size_t pos = 0;
  while (pos < len) {
    if (s[pos] == KVPARSE_ITEM_END) {
      pos++; /* an empty item */
      continue;
    }
    size_t used;
    char *key, *value;
    if (kvparse_item(s + pos, len - pos, what, &used, &key, &value, err, errlen) != 0)
      goto fail;
    int dup = kvlist_add(l, key, value);
    if (dup != 0)
      kvparse_err_key(err, errlen, "duplicate key ", key, "");
    free(key);
    free(value);
    if (dup != 0)
      goto fail;
    pos += used + 1; /* the ';', or one past the end */
  }
  *out = l;
  return 0;
fail:
  kvlist_free(l);
  return -1;
}

/* ---- JSON ---- */

/* jansson's text may quote raw input bytes; keep the err line printable. */
static void kvparse_err_printable(char *err) {
  for (; *err; err++) {
    if ((unsigned char)*err < 0x20 || (unsigned char)*err >= 0x7f)
      *err = '?';
  }
}

json_t *kvparse_json_load(const char *json, size_t len, char *err, size_t errlen) {
  json_error_t jerr;
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (root)
    return root;
  /* jansson ends its text with "near '<token>'", and the token may be
   * part of a key or password: keep only the reason and the position. */
  char *near = strstr(jerr.text, " near ");
  if (near)
    *near = '\0';
  if (err && errlen) {
    snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
             jerr.text);
    kvparse_err_printable(err);
  }
  return NULL;
}

/* A real as its shortest text that reads back as the same double, so 0.1
 * gives "0.1" and not jansson's default "0.10000000000000001". */
static char *kvparse_json_real_text(const json_t *v) {
  double d = json_real_value(v);
  char *text = NULL;
  for (int p = 1; p <= KVPARSE_REAL_PRECISION_MAX; p++) {
    free(text);
    text = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(p));
    if (!text)
      xalloc_die();
    if (strtod(text, NULL) == d)
      break;
  }
  return text;
}

char *kvparse_json_text(const json_t *v) {
  if (json_is_string(v)) {
    if (json_string_length(v) != strlen(json_string_value(v)))
      return NULL;
    return xstrdup(json_string_value(v));
  }
  if (json_is_real(v))
    return kvparse_json_real_text(v);
  char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!text)
    xalloc_die(); /* json_dumps fails only when it cannot allocate */
  return text;
}

int kvparse_json_object(const json_t *obj, kvlist_t *l, char *err, size_t errlen) {
  const char *key;
  json_t *v;
  if (!json_is_object(obj)) {
    kvparse_err(err, errlen, "not a JSON object");
    return -1;
  }
  /* json_object_foreach takes a non-const object but only reads it. */
  json_object_foreach((json_t *)obj, key, v) {
    if (key[0] == '\0') {
      kvparse_err(err, errlen, "empty key");
      return -1;
    }
    char *text = kvparse_json_text(v);
    if (!text) {
      kvparse_err_key(err, errlen, "value of key ", key, " contains a NUL byte");
      return -1;
    }
    int dup = kvlist_add(l, key, text);
    free(text);
    if (dup != 0) {
      kvparse_err_key(err, errlen, "duplicate key ", key, "");
      return -1;
    }
  }
  return 0;
}
