/* fuzz_obfs4_state: the obfs4 identity's text parsers on arbitrary input.
 *
 * The first byte picks the parser (modulo 3):
 *   0  obfs4_cert_decode on the rest as C text;
 *   1  obfs4_client_args_parse on the rest as C text, one key=value a
 *      line (a later line for the same key replaces the earlier);
 *   2  obfs4_state_parse_json on the rest after one more byte, which
 *      picks the iat-mode override (byte % 4 - 1: none, 0, 1, 2).
 * Properties, abort() on violation: a cert is accepted exactly when,
 * CR and LF aside, it is 70 characters of the standard base64 alphabet,
 * and encoding what it gave decodes to the same again; a failed parse
 * leaves no bytes behind and a printable, non-empty err naming the key
 * (quoted) it is about; a state that parses has an iat-mode of 0..2, the
 * public key of its private key, and survives obfs4_state_format_json
 * and a second parse unchanged. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/kvlist.h"
#include "transports/obfs4/state.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_is_zero(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) {
    if (b[i])
      return false;
  }
  return true;
}

/* The acceptance rule, written the plain way. */
static bool fuzz_cert_ok(const char *text) {
  size_t n = 0;
  for (const char *p = text; *p; p++) {
    if (*p == '\r' || *p == '\n')
      continue;
    if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", *p))
      return false;
    n++;
  }
  return n == OBFS4_CERT_LEN;
}

static void fuzz_cert(const char *text) {
  obfs4_bridge_t b, again;
  int rc = obfs4_cert_decode(&b, text);
  if ((rc == 0) != fuzz_cert_ok(text))
    abort();
  if (rc != 0)
    return;
  char enc[OBFS4_CERT_LEN + 1];
  obfs4_cert_encode(enc, &b);
  if (strlen(enc) != OBFS4_CERT_LEN || obfs4_cert_decode(&again, enc) != 0 ||
      memcmp(&again, &b, sizeof b) != 0)
    abort();
}

static void fuzz_client_args(char *text) {
  kvlist_t *args = kvlist_new();
  if (!args)
    return;
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *eq = strchr(line, '=');
    if (!eq)
      continue;
    *eq = '\0';
    kvlist_set(args, line, eq + 1);
  }
  obfs4_bridge_t b;
  memset(&b, 0xA5, sizeof b);
  obfs4_iat_mode_t iat = OBFS4_IAT_NONE;
  char err[256] = "";
  if (obfs4_client_args_parse(args, &b, &iat, err, sizeof err) != 0) {
    fuzz_check_err(err);
    if (!fuzz_is_zero(&b, sizeof b))
      abort();
    if (!strstr(err, "\"cert\"") && !strstr(err, "\"node-id\"") &&
        !strstr(err, "\"public-key\"") && !strstr(err, "\"iat-mode\""))
      abort();
  } else {
    if (iat > OBFS4_IAT_PARANOID)
      abort();
    const char *cert = kvlist_get(args, "cert");
    obfs4_bridge_t c;
    if (cert && (obfs4_cert_decode(&c, cert) != 0 || memcmp(&c, &b, sizeof b) != 0))
      abort();
  }
  kvlist_free(args);
}

static void fuzz_state_json(const uint8_t *data, size_t size) {
  if (size == 0)
    return;
  int override = data[0] % 4 - 1;
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  obfs4_server_state_t st;
  memset(&st, 0xA5, sizeof st);
  char err[512] = "";
  if (obfs4_state_parse_json(&st, text, len, "fuzz.json", override, err, sizeof err) != 0) {
    fuzz_check_err(err);
    if (!fuzz_is_zero(&st, sizeof st) || strncmp(err, "fuzz.json: ", 11) != 0)
      abort();
    return;
  }
  if (st.iat_mode > OBFS4_IAT_PARANOID || (override >= 0 && (int)st.iat_mode != override))
    abort();
  uint8_t pk[32];
  if (crypto_scalarmult_curve25519_base(pk, st.id.sk) != 0 ||
      memcmp(pk, st.id.pub.pk, sizeof pk) != 0)
    abort();
  char out[OBFS4_STATE_JSON_MAX];
  size_t n = obfs4_state_format_json(&st, out);
  obfs4_server_state_t again;
  if (n == 0 || n >= sizeof out ||
      obfs4_state_parse_json(&again, out, n, "again", -1, err, sizeof err) != 0 ||
      memcmp(&again, &st, sizeof st) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  uint8_t which = data[0] % 3;
  if (which == 2) {
    fuzz_state_json(data + 1, size - 1);
    return 0;
  }
  char *text = fuzz_cstring(data + 1, size - 1);
  if (!text)
    return 0;
  if (which == 0)
    fuzz_cert(text);
  else
    fuzz_client_args(text);
  free(text);
  return 0;
}
