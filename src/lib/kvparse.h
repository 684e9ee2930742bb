/* kvparse: key/value arguments from text, one implementation for the
 * parent's transport options (ipc/options) and for per-connection client
 * arguments (net/socks_args).
 *
 * Escaped form (pt-spec 3.5, and each item of TOR_PT_SERVER_TRANSPORT_OPTIONS
 * after its "name:"): items "key=value" separated by ';'. A backslash makes
 * the next byte literal; the first unescaped '=' splits key from value, so
 * later ones belong to the value (Tor escapes '=' only in keys); an
 * unescaped ';' ends the item. Empty items (";;", a trailing ';') are
 * skipped. Keys are non-empty and unique within one list.
 *
 * JSON values as argument text: strings as they are; numbers, booleans and
 * null as their JSON text (a real in the shortest form that reads back as
 * the same double); objects and arrays as compact JSON text, members in
 * their original order.
 *
 * Error texts may name a key, quoted and made printable so a control byte
 * cannot split the one-line message it ends up in; they never repeat a
 * value, since values can be secrets (an obfs4 private key, a password). */
#ifndef PTD_LIB_KVPARSE_H
#define PTD_LIB_KVPARSE_H

#include <stddef.h>

#include <jansson.h>

#include "lib/kvlist.h"

/* The offset of the first byte of s[0..len) that is in stops and not
 * escaped by a backslash; len when there is none; -1 when s ends in a
 * backslash that escapes nothing before such a byte is found. Scanning is
 * left to right, so a caller reporting "-1" and "found" errors reports
 * whichever comes first in the text. A NUL byte is never a stop. */
ptrdiff_t kvparse_find(const char *s, size_t len, const char *stops);

/* s[0..len) with every escape replaced by the byte it escapes, as new
 * NUL-terminated text (the caller frees). A final lone backslash is
 * dropped; callers find it first with kvparse_find. */
char *kvparse_unescape(const char *s, size_t len);

/* Reads one item "key=value" that starts at s and ends at its first
 * unescaped ';' or at len. On success *key and *value hold new unescaped
 * text (the caller frees both) and *used the item's length without the
 * ';'. On error returns -1 with nothing allocated and err saying why:
 * "trailing backslash", "missing '=' in <what>", or "empty key". what
 * names an item in that text: "option", "argument". */
int kvparse_item(const char *s, size_t len, const char *what, size_t *used, char **key,
                 char **value, char *err, size_t errlen);

/* Parses the whole escaped form in s[0..len) into a new list in *out (the
 * caller frees it with kvlist_free). s holds bytes, not C text: a NUL byte
 * is an error, since keys and values become C strings. Empty text gives an
 * empty list. On error returns -1 with *out NULL and err filled: the
 * errors of kvparse_item, "NUL byte in <what>s", or "duplicate key \"k\"". */
int kvparse_escaped(const char *s, size_t len, const char *what, kvlist_t **out, char *err,
                    size_t errlen);

/* Parses json[0..len) as any JSON value, refusing duplicate object keys
 * and NUL bytes in strings. Returns the value (the caller json_decref()s
 * it), or NULL with err holding "invalid JSON at line L column C: reason":
 * printable, and without the token jansson would quote, which may be part
 * of a secret. */
json_t *kvparse_json_load(const char *json, size_t len, char *err, size_t errlen);

/* A JSON value as argument text (new, the caller frees), by the rule at
 * the top of this file. NULL for a string holding a NUL byte, which no C
 * string can carry. */
char *kvparse_json_text(const json_t *v);

/* Adds every member of the JSON object obj to l as key = kvparse_json_text
 * (value), in the object's order. Returns 0, or -1 with err naming the key
 * ("empty key", "value of key \"k\" contains a NUL byte", "duplicate key
 * \"k\"") after adding the members before it; a caller that must stay
 * unchanged on error passes a fresh list. */
int kvparse_json_object(const json_t *obj, kvlist_t *l, char *err, size_t errlen);

#endif
