/* socks_args: SOCKS authentication fields to transport arguments.
 *
 * Thin on purpose: the syntax lives in lib/kvparse, shared with the
 * parent's -options, so that an argument means the same whether it came
 * from the parent or from a client. What is SOCKS-specific is here: how
 * RFC 1929's two fields join (and Tor's lone-NUL PASSWD), and which SOCKS5
 * reply code a bad JSON block earns. */
#include "net/socks_args.h"

#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "lib/kvparse.h"

/* How error texts name an item ("missing '=' in argument"). */
#define SOCKS_ARGS_ITEM "argument"

int socks_args_from_userpass(const socks5_userpass_t *up, kvlist_t **out, char *err,
                             size_t errlen) {
  char joined[2 * SOCKS5_USERPASS_FIELD_MAX];
  size_t n = up->ulen;
  memcpy(joined, up->uname, up->ulen);
  /* Tor's "no more arguments" marker: RFC 1929 forbids an empty PASSWD. */
  const int passwd_is_marker = up->plen == 1 && up->passwd[0] == '\0';
  if (!passwd_is_marker) {
    memcpy(joined + n, up->passwd, up->plen);
    n += up->plen;
  }
  int rc = kvparse_escaped(joined, n, SOCKS_ARGS_ITEM, out, err, errlen);
  /* The caller wipes its fields; this copy is out of its reach. */
  sodium_memzero(joined, sizeof joined);
  return rc;
}

int socks_args_from_userid(const char *userid, kvlist_t **out, char *err, size_t errlen) {
  return kvparse_escaped(userid, strlen(userid), SOCKS_ARGS_ITEM, out, err, errlen);
}

int socks_args_from_json(const char *json, size_t len, kvlist_t **out, uint8_t *reply,
                         char *err, size_t errlen) {
  *out = NULL;
  *reply = SOCKS5_REP_SETTINGS_PARSE;
  json_t *root = kvparse_json_load(json, len, err, errlen);
  if (!root)
    return -1;
  kvlist_t *l = kvlist_new();
  int rc = kvparse_json_object(root, l, err, errlen);
  json_decref(root);
  if (rc != 0) {
    kvlist_free(l);
    return -1;
  }
  *out = l;
  *reply = SOCKS5_REP_SUCCEEDED;
  return 0;
}
