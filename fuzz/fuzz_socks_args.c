/* fuzz_socks_args: the per-connection argument parsers on arbitrary input.
 *
 * The first byte picks the parser (modulo 3):
 *   0  socks_args_from_userpass: the next byte is ULEN (capped at what is
 *      left and at 255), then UNAME, then the rest (capped at 255) is
 *      PASSWD, so Tor's lone-NUL PASSWD and every split are reachable;
 *   1  socks_args_from_json on the rest;
 *   2  socks_args_from_userid on the rest as C text.
 * Properties, abort() on violation: an error leaves *out NULL and a
 * printable, non-empty err (and 0x12 for JSON); a success gives a list
 * of non-empty, unique keys; a list from the escaped form, written back
 * escaped, parses to the same list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/kvparse.h"
#include "net/socks_args.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What *out holds before a call: each parser must overwrite it. */
static kvlist_t fuzz_unset;

/* The list in the escaped form, the way Tor writes it: '=' escaped only in
 * keys. */
static fuzz_buf_t fuzz_serialize(const kvlist_t *l) {
  fuzz_buf_t b = {0};
  fuzz_put(&b, ';'); /* never empty, and an empty item is allowed */
  for (size_t i = 0; i < l->n; i++) {
    fuzz_put_escaped(&b, l->items[i].key, "\\=;");
    fuzz_put(&b, '=');
    fuzz_put_escaped(&b, l->items[i].value, "\\;");
    fuzz_put(&b, ';');
  }
  return b;
}

static void fuzz_check_list(const kvlist_t *l) {
  if (l == NULL)
    abort();
  for (size_t i = 0; i < l->n; i++) {
    if (l->items[i].key[0] == '\0' || l->items[i].value == NULL)
      abort();
    for (size_t j = 0; j < i; j++) {
      if (strcmp(l->items[i].key, l->items[j].key) == 0)
        abort();
    }
  }
}

static void fuzz_check_roundtrip(const kvlist_t *l) {
  fuzz_buf_t b = fuzz_serialize(l);
  kvlist_t *again = NULL;
  char err[256];
  if (kvparse_escaped(b.p, b.n, "argument", &again, err, sizeof err) != 0)
    abort();
  if (again->n != l->n)
    abort();
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(again->items[i].key, l->items[i].key) != 0 ||
        strcmp(again->items[i].value, l->items[i].value) != 0)
      abort();
  }
  kvlist_free(again);
  free(b.p);
}

/* The result of an escaped-form parser: either a good list, or nothing
 * and a good error. */
static void fuzz_check_escaped(int rc, kvlist_t *l, const char *err) {
  if (rc != 0) {
    if (l != NULL)
      abort();
    fuzz_check_err(err);
    return;
  }
  fuzz_check_list(l);
  fuzz_check_roundtrip(l);
  kvlist_free(l);
}

static void fuzz_userpass(const uint8_t *data, size_t size) {
  socks5_userpass_t up;
  size_t ulen = size > 0 ? data[0] : 0;
  if (size > 0) {
    data++;
    size--;
  }
  if (ulen > size)
    ulen = size;
  memcpy(up.uname, data, ulen);
  up.ulen = ulen;
  size_t plen = size - ulen;
  if (plen > sizeof up.passwd)
    plen = sizeof up.passwd;
  memcpy(up.passwd, data + ulen, plen);
  up.plen = plen;
  kvlist_t *l = &fuzz_unset;
  char err[256] = "";
  int rc = socks_args_from_userpass(&up, &l, err, sizeof err);
  fuzz_check_escaped(rc, l, err);
}

static void fuzz_userid(const uint8_t *data, size_t size) {
  char *text = fuzz_cstring(data, size);
  if (!text)
    return;
  kvlist_t *l = &fuzz_unset;
  char err[256] = "";
  int rc = socks_args_from_userid(text, &l, err, sizeof err);
  fuzz_check_escaped(rc, l, err);
  free(text);
}

static void fuzz_json(const uint8_t *data, size_t size) {
  kvlist_t *l = &fuzz_unset;
  uint8_t reply = 0xEE;
  char err[256] = "";
  if (socks_args_from_json((const char *)data, size, &l, &reply, err, sizeof err) != 0) {
    if (l != NULL || reply != 0x12)
      abort();
    fuzz_check_err(err);
    return;
  }
  if (reply != 0x00)
    abort();
  fuzz_check_list(l);
  kvlist_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  switch (data[0] % 3) {
  case 0:
    fuzz_userpass(data + 1, size - 1);
    break;
  case 1:
    fuzz_json(data + 1, size - 1);
    break;
  default:
    fuzz_userid(data + 1, size - 1);
    break;
  }
  return 0;
}
