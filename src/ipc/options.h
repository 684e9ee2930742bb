/* options: per-transport options from TOR_PT_SERVER_TRANSPORT_OPTIONS,
 * -options or -optionsFile.
 *
 * Escaped form: "name:k=v;name:k=v". A backslash escapes the next
 * character; the first unescaped ':' ends the transport name, the first
 * unescaped '=' ends the key (Tor does not escape '=' inside values), and an
 * unescaped ';' ends the item. Empty items (";;", a trailing ';') are
 * skipped. A key given twice for one transport is an error.
 *
 * JSON form (the reference dispatcher's): an object keyed by transport name
 * whose values are objects of options, or - when exactly one transport is
 * named - a bare object of options for that transport. String values are
 * taken as they are; numbers, booleans and null as their JSON text; nested
 * objects and arrays as compact JSON text. */
#ifndef PTD_IPC_OPTIONS_H
#define PTD_IPC_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/kvlist.h"

typedef struct ipc_transport_options {
  char *transport;
  kvlist_t *kv;
} ipc_transport_options_t;

typedef struct ipc_options {
  ipc_transport_options_t *items;
  size_t n;
} ipc_options_t;

/* Both parsers append to out (zero-initialised or from an earlier call).
 * On error they return -1 with err saying what is wrong, without quoting
 * the whole input (the caller quotes it). */
int ipc_options_parse(const char *text, ipc_options_t *out, char *err, size_t errlen);
int ipc_options_parse_json(const char *json, const char *const *transports,
                           size_t n_transports, ipc_options_t *out, char *err,
                           size_t errlen);
/* True when s[0..len) is a valid transport name: a C identifier in ASCII
 * (pt-spec), since names end up in method lines and file names. */
bool ipc_transport_name_ok(const char *s, size_t len);

/* The options for one transport, or NULL. */
const kvlist_t *ipc_options_get(const ipc_options_t *o, const char *transport);
void ipc_options_clear(ipc_options_t *o);

#endif
