/* socks_args: per-connection transport arguments from a SOCKS handshake,
 * as the key/value list a transport validates.
 *
 * PT 1 (pt-spec 3.5): "k=v;k=v" with backslash escapes (lib/kvparse), in
 * SOCKS5 the concatenation of RFC 1929's UNAME and PASSWD, in SOCKS4 the
 * USERID. PT 2.1 (s1.4, SOCKS5 method 0x09): a JSON object.
 *
 * Error texts are for the log: they may name a key (quoted, printable)
 * but never repeat a value, which can be a secret. */
#ifndef PTD_NET_SOCKS_ARGS_H
#define PTD_NET_SOCKS_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/kvlist.h"
#include "net/socks5.h"

/* pt-spec 3.5: the arguments are UNAME followed by PASSWD. Tor splits
 * arguments longer than 255 bytes across both fields (at any byte, even
 * inside an escape), and sends a PASSWD of a single NUL byte when they fit
 * in UNAME: that PASSWD counts as empty. Empty fields give an empty list.
 * On success *out is a new list (the caller frees it with kvlist_free).
 * A syntax error (an item without '=', an empty or duplicate key, a
 * trailing backslash, a NUL byte anywhere else) returns -1 with *out NULL
 * and err filled; the caller answers 01 01. */
int socks_args_from_userpass(const socks5_userpass_t *up, kvlist_t **out, char *err,
                             size_t errlen);

/* pt-spec 3.5 for SOCKS4: the arguments are the USERID (C text). Same
 * results as socks_args_from_userpass; the caller answers 0x5B on error. */
int socks_args_from_userid(const char *userid, kvlist_t **out, char *err, size_t errlen);

/* PT 2.1 s1.4: json[0..len) must be one JSON object (UTF-8, no duplicate
 * or empty keys, nothing after it). String values become the arguments as
 * they are; numbers, booleans and null their JSON text; nested objects and
 * arrays their compact JSON text. On success *out is a new list. On error
 * returns -1 with *out NULL, err filled and *reply 0x12 (the settings
 * could not be parsed into arguments: invalid JSON, not an object, an
 * empty key; an empty block too). 0x13 is left to the transport, which
 * judges the keys and values. */
int socks_args_from_json(const char *json, size_t len, kvlist_t **out, uint8_t *reply,
                         char *err, size_t errlen);

#endif
