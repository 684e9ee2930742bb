/* state: see state.h. Where obfs4proxy 0.0.14 (transports/obfs4/
 * statefile.go and obfs4.go) accepts or refuses something, so do we: a
 * bridge moving over must come up with the same identity or not at all.
 * Our error messages are our own and never repeat a value. */
#include "transports/obfs4/state.h"

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/quote.h"
#include "lib/statedir.h"
#include "transports/transport_args.h"

#define KEY_NODE_ID "node-id"
#define KEY_PRIVATE_KEY "private-key"
#define KEY_PUBLIC_KEY "public-key"
#define KEY_DRBG_SEED "drbg-seed"
#define KEY_IAT_MODE "iat-mode"
#define KEY_CERT "cert"

#define CERT_RAW_LEN (NTOR_NODE_ID_LEN + NTOR_KEY_LEN)

/* ---- small parsers ---- */

static int hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Go's hex.DecodeString and then a length check: an even number of hex
 * digits (either case) giving exactly want bytes, or at least want bytes
 * when longer_ok (drbg.SeedFromHex keeps the first want and drops the
 * rest). */
static int hex_field(uint8_t *out, size_t want, const char *s, size_t len, bool longer_ok) {
  if (len % 2 != 0 || len / 2 < want || (!longer_ok && len / 2 != want))
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (!hex_digit(s[i]))
      return -1;
  }
  size_t got = 0;
  if (sodium_hex2bin(out, want, s, want * 2, NULL, &got, NULL) != 0 || got != want)
    return -1;
  return 0;
}

/* strconv.Atoi, then the 0..2 range check: an optional sign and one or
 * more ASCII digits, nothing else (no spaces, no base prefix, no '_').
 * Leading zeros and "-0" are fine; values that would overflow Go's int
 * are out of range either way. */
static int iat_parse(const char *s, obfs4_iat_mode_t *out) {
  bool neg = false;
  if (*s == '+' || *s == '-') {
    neg = *s == '-';
    s++;
  }
  if (*s == '\0')
    return -1;
  unsigned v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return -1;
    if (v <= OBFS4_IAT_PARANOID) /* past 2 it only grows: stop counting */
      v = v * 10 + (unsigned)(*s - '0');
  }
  if (v > OBFS4_IAT_PARANOID || (neg && v != 0))
    return -1;
  *out = (obfs4_iat_mode_t)v;
  return 0;
}

/* ---- identity ---- */

static int derive_public(obfs4_server_state_t *st) {
  /* X25519 clamps the stored (unclamped) scalar, as Go's
   * curve25519.ScalarBaseMult does. */
  return crypto_scalarmult_curve25519_base(st->id.pub.pk, st->id.sk) == 0 ? 0 : -1;
}

/* Where a value came from, for messages: an option, or a field of a file. */
typedef struct {
  const char *file; /* NULL: options */
} origin_t;

static int bad_value(const origin_t *o, const char *key, const char *want, char *err,
                     size_t errlen) {
  char q[QUOTE_MAX];
  if (o->file)
    snprintf(err, errlen, "%s: field %s %s", o->file, quote_text(key, q, sizeof q), want);
  else
    snprintf(err, errlen, "malformed option %s: %s", quote_text(key, q, sizeof q), want);
  return -1;
}

/* The three hex fields, as serverStateFromJSONServerState checks them
 * (node-id, private-key, drbg-seed, in that order). Lengths are given
 * because JSON strings may hold NUL bytes. */
static int identity_from_hex(obfs4_server_state_t *st, const origin_t *o, const char *node_id,
                             size_t node_id_len, const char *sk, size_t sk_len,
                             const char *seed, size_t seed_len, char *err, size_t errlen) {
  if (hex_field(st->id.pub.node_id, NTOR_NODE_ID_LEN, node_id, node_id_len, false) != 0)
    return bad_value(o, KEY_NODE_ID, "must be 40 hex digits", err, errlen);
  if (hex_field(st->id.sk, NTOR_KEY_LEN, sk, sk_len, false) != 0)
    return bad_value(o, KEY_PRIVATE_KEY, "must be 64 hex digits", err, errlen);
  if (hex_field(st->drbg_seed, DRBG_SEED_LEN, seed, seed_len, true) != 0)
    return bad_value(o, KEY_DRBG_SEED, "must be 48 hex digits", err, errlen);
  if (derive_public(st) != 0) {
    snprintf(err, errlen, "cannot derive the public key");
    return -1;
  }
  return 0;
}

static int identity_generate(obfs4_server_state_t *st, char *err, size_t errlen) {
  randombytes_buf(st->id.pub.node_id, sizeof st->id.pub.node_id);
  /* obfs4proxy stores SHA-512(random)[0..32), unclamped: uniformly random
   * bytes, which is what this is too. */
  randombytes_buf(st->id.sk, sizeof st->id.sk);
  randombytes_buf(st->drbg_seed, sizeof st->drbg_seed);
  st->iat_mode = OBFS4_IAT_NONE;
  if (derive_public(st) != 0) {
    snprintf(err, errlen, "cannot derive the public key");
    return -1;
  }
  return 0;
}

void obfs4_server_state_clear(obfs4_server_state_t *st) {
  if (st)
    sodium_memzero(st, sizeof *st);
}

/* ---- obfs4_state.json ---- */

/* Go's encoding/json matches a key to a field name ignoring case; for
 * names holding 'k' or 's' it also folds U+212A KELVIN SIGN and U+017F
 * LATIN SMALL LETTER LONG S into them. name is lower-case ASCII. */
static bool json_key_is(const char *key, const char *name) {
  for (; *name; name++) {
    char c = *name;
    if (*key == c || (c >= 'a' && c <= 'z' && *key == c - 'a' + 'A')) {
      key++;
    } else if (c == 'k' && strncmp(key, "\xE2\x84\xAA", 3) == 0) {
      key += 3;
    } else if (c == 's' && strncmp(key, "\xC5\xBF", 2) == 0) {
      key += 2;
    } else {
      return false;
    }
  }
  return *key == '\0';
}

static const char *json_problem(const json_error_t *e) {
  switch (json_error_code(e)) {
  case json_error_out_of_memory:
    return "out of memory";
  case json_error_stack_overflow:
    return "nested too deeply";
  case json_error_invalid_utf8:
    return "invalid UTF-8";
  case json_error_premature_end_of_input:
    return "ends early";
  case json_error_end_of_input_expected:
    return "text after the JSON value";
  case json_error_numeric_overflow:
    return "number out of range";
  case json_error_null_byte_in_key:
    return "NUL in a key";
  default:
    return "invalid syntax";
  }
}

/* The strings found for the fields; a later key that folds to the same
 * field wins, a null leaves the field as it was (Go's decoder does both). */
typedef struct {
  const char *node_id, *sk, *seed;
  size_t node_id_len, sk_len, seed_len;
  json_int_t iat;
} json_fields_t;

static int take_string(json_t *v, const char **s, size_t *len, const origin_t *o,
                       const char *key, char *err, size_t errlen) {
  if (json_is_null(v))
    return 0;
  if (!json_is_string(v))
    return bad_value(o, key, "must be a string", err, errlen);
  *s = json_string_value(v);
  *len = json_string_length(v);
  return 0;
}

static int json_fields_read(json_t *root, json_fields_t *f, const origin_t *o, char *err,
                            size_t errlen) {
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    const char *ignored = NULL;
    size_t ignored_len = 0;
    int rc = 0;
    if (json_key_is(key, KEY_NODE_ID))
      rc = take_string(v, &f->node_id, &f->node_id_len, o, KEY_NODE_ID, err, errlen);
    else if (json_key_is(key, KEY_PRIVATE_KEY))
      rc = take_string(v, &f->sk, &f->sk_len, o, KEY_PRIVATE_KEY, err, errlen);
    else if (json_key_is(key, KEY_PUBLIC_KEY)) /* never used, but typed */
      rc = take_string(v, &ignored, &ignored_len, o, KEY_PUBLIC_KEY, err, errlen);
    else if (json_key_is(key, KEY_DRBG_SEED))
      rc = take_string(v, &f->seed, &f->seed_len, o, KEY_DRBG_SEED, err, errlen);
    else if (json_key_is(key, KEY_IAT_MODE)) {
      /* Go reads an int: an integer literal only, not 1.0 or 1e0 (jansson
       * reads those as reals). */
      if (json_is_integer(v))
        f->iat = json_integer_value(v);
      else if (!json_is_null(v))
        rc = bad_value(o, KEY_IAT_MODE, "must be an integer", err, errlen);
    }
    if (rc != 0)
      return -1;
  }
  return 0;
}

/* jansson frees without wiping: wipe the strings that may hold the key
 * before handing the tree back. */
static void json_wipe_strings(json_t *root) {
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    if (json_is_string(v))
      sodium_memzero((char *)json_string_value(v), json_string_length(v));
  }
}

int obfs4_state_parse_json(obfs4_server_state_t *st, const char *data, size_t len,
                           const char *origin, int iat_override, char *err, size_t errlen) {
  origin_t o = {.file = origin ? origin : OBFS4_STATE_FILE};
  memset(st, 0, sizeof *st);
  json_error_t je;
  /* DECODE_ANY: a bare null decodes (to nothing) in Go, and then fails on
   * the empty node-id like any other file without one; ALLOW_NUL: Go
   * takes \u0000 in strings (in an unknown key's value it is harmless). */
  json_t *root = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  if (!root) {
    snprintf(err, errlen, "%s: not valid JSON (%s) at line %d, column %d", o.file,
             json_problem(&je), je.line, je.column);
    return -1;
  }
  int rc = -1;
  json_fields_t f = {0};
  if (!json_is_object(root) && !json_is_null(root)) {
    snprintf(err, errlen, "%s: not a JSON object", o.file);
    goto out;
  }
  if (json_is_object(root) && json_fields_read(root, &f, &o, err, errlen) != 0)
    goto out;
  /* Go leaves a missing or null field empty, which then fails as hex; we
   * say what is actually wrong. */
  const char *missing = !f.node_id ? KEY_NODE_ID
                        : !f.sk    ? KEY_PRIVATE_KEY
                        : !f.seed  ? KEY_DRBG_SEED
                                   : NULL;
  if (missing) {
    char q[QUOTE_MAX];
    snprintf(err, errlen, "%s: field %s is missing", o.file, quote_text(missing, q, sizeof q));
    goto out;
  }
  if (identity_from_hex(st, &o, f.node_id, f.node_id_len, f.sk, f.sk_len, f.seed, f.seed_len,
                        err, errlen) != 0)
    goto out;
  if (iat_override >= 0)
    f.iat = iat_override;
  if (f.iat < OBFS4_IAT_NONE || f.iat > OBFS4_IAT_PARANOID) {
    bad_value(&o, KEY_IAT_MODE, "must be 0, 1 or 2", err, errlen);
    goto out;
  }
  st->iat_mode = (obfs4_iat_mode_t)f.iat;
  rc = 0;
out:
  if (json_is_object(root))
    json_wipe_strings(root);
  json_decref(root);
  if (rc != 0)
    obfs4_server_state_clear(st);
  return rc;
}

size_t obfs4_state_format_json(const obfs4_server_state_t *st, char out[OBFS4_STATE_JSON_MAX]) {
  char node_id[NTOR_NODE_ID_LEN * 2 + 1], sk[NTOR_KEY_LEN * 2 + 1], pk[NTOR_KEY_LEN * 2 + 1];
  char seed[DRBG_SEED_LEN * 2 + 1];
  sodium_bin2hex(node_id, sizeof node_id, st->id.pub.node_id, NTOR_NODE_ID_LEN);
  sodium_bin2hex(sk, sizeof sk, st->id.sk, NTOR_KEY_LEN);
  sodium_bin2hex(pk, sizeof pk, st->id.pub.pk, NTOR_KEY_LEN);
  sodium_bin2hex(seed, sizeof seed, st->drbg_seed, DRBG_SEED_LEN);
  /* The field order of obfs4proxy's jsonServerState struct. */
  int n = snprintf(out, OBFS4_STATE_JSON_MAX,
                   "{\"" KEY_NODE_ID "\":\"%s\",\"" KEY_PRIVATE_KEY "\":\"%s\",\"" KEY_PUBLIC_KEY
                   "\":\"%s\",\"" KEY_DRBG_SEED "\":\"%s\",\"" KEY_IAT_MODE "\":%d}",
                   node_id, sk, pk, seed, (int)st->iat_mode);
  sodium_memzero(sk, sizeof sk);
  sodium_memzero(seed, sizeof seed);
  return n > 0 ? (size_t)n : 0;
}

static int state_save(const obfs4_server_state_t *st, const char *state_dir, char *err,
                      size_t errlen) {
  char text[OBFS4_STATE_JSON_MAX];
  size_t len = obfs4_state_format_json(st, text);
  int rc = statedir_write_atomic(state_dir, OBFS4_STATE_FILE, (const uint8_t *)text, len, err,
                                 errlen);
  sodium_memzero(text, sizeof text);
  return rc;
}

/* obfs4_state.json from state_dir, or a new identity when there is none. */
static int state_from_dir(obfs4_server_state_t *st, const char *state_dir, int iat_override,
                          char *err, size_t errlen) {
  uint8_t *data = NULL;
  size_t len = 0;
  int r = statedir_read(state_dir, OBFS4_STATE_FILE, &data, &len, err, errlen);
  if (r < 0)
    return -1;
  if (r == 1) {
    if (identity_generate(st, err, errlen) != 0)
      return -1;
    if (iat_override >= 0)
      st->iat_mode = (obfs4_iat_mode_t)iat_override;
    return 0;
  }
  char *path = statedir_path(state_dir, OBFS4_STATE_FILE);
  int rc = obfs4_state_parse_json(st, (const char *)data, len, path, iat_override, err, errlen);
  free(path);
  sodium_memzero(data, len);
  free(data);
  return rc;
}

int obfs4_state_load(obfs4_server_state_t *st, const kvlist_t *options, const char *state_dir,
                     char *err, size_t errlen) {
  memset(st, 0, sizeof *st);
  const char *node_id = kvlist_get(options, KEY_NODE_ID);
  const char *sk = kvlist_get(options, KEY_PRIVATE_KEY);
  const char *seed = kvlist_get(options, KEY_DRBG_SEED);
  const char *iat = kvlist_get(options, KEY_IAT_MODE);
  const origin_t opt = {.file = NULL};
  char q[QUOTE_MAX];

  bool identity_given = node_id || sk || seed;
  if (identity_given) {
    /* obfs4proxy's order of complaint. */
    const char *missing = !sk ? KEY_PRIVATE_KEY : !node_id ? KEY_NODE_ID : !seed ? KEY_DRBG_SEED
                                                                              : NULL;
    if (missing) {
      snprintf(err, errlen,
               "missing option %s (node-id, private-key and drbg-seed go together)",
               quote_text(missing, q, sizeof q));
      return -1;
    }
  } else if (!state_dir) {
    snprintf(err, errlen,
             "no state directory to keep the obfs4 identity in, and no node-id, private-key "
             "and drbg-seed options");
    return -1;
  }
  /* obfs4proxy checks iat-mode's range last, after loading (or creating)
   * the file; checking it before changes no outcome, except that a bad
   * option no longer leaves a new state file behind. */
  obfs4_iat_mode_t iat_mode = OBFS4_IAT_NONE;
  if (iat && iat_parse(iat, &iat_mode) != 0)
    return bad_value(&opt, KEY_IAT_MODE, "must be 0, 1 or 2", err, errlen);

  int rc;
  if (identity_given) {
    rc = identity_from_hex(st, &opt, node_id, strlen(node_id), sk, strlen(sk), seed,
                           strlen(seed), err, errlen);
    st->iat_mode = iat_mode;
  } else {
    rc = state_from_dir(st, state_dir, iat ? (int)iat_mode : -1, err, errlen);
  }
  /* Written back every time, as obfs4proxy does: a new identity, an
   * identity given as options, an iat-mode override all persist. */
  if (rc == 0 && state_dir)
    rc = state_save(st, state_dir, err, errlen);
  if (rc != 0)
    obfs4_server_state_clear(st);
  return rc;
}

/* ---- the bridge line ---- */

int obfs4_state_write_bridgeline(const obfs4_server_state_t *st, const char *state_dir,
                                 char *err, size_t errlen) {
  /* Byte for byte what obfs4proxy writes (its placeholders included), so
   * tooling that reads the file keeps working. */
  static const char head[] =
      "# obfs4 torrc client bridge line\n"
      "#\n"
      "# This file is an automatically generated bridge line based on\n"
      "# the current obfs4proxy configuration.  EDITING IT WILL HAVE\n"
      "# NO EFFECT.\n"
      "#\n"
      "# Before distributing this Bridge, edit the placeholder fields\n"
      "# to contain the actual values:\n"
      "#  <IP ADDRESS>  - The public IP address of your obfs4 bridge.\n"
      "#  <PORT>        - The TCP/IP port of your obfs4 bridge.\n"
      "#  <FINGERPRINT> - The bridge's fingerprint.\n\n";
  char cert[OBFS4_CERT_LEN + 1];
  char text[sizeof head + 256];
  obfs4_cert_encode(cert, &st->id.pub);
  int n = snprintf(text, sizeof text,
                   "%sBridge obfs4 <IP ADDRESS>:<PORT> <FINGERPRINT> " KEY_CERT "=%s " KEY_IAT_MODE
                   "=%d\n",
                   head, cert, (int)st->iat_mode);
  if (n < 0 || (size_t)n >= sizeof text) {
    snprintf(err, errlen, "bridge line too long");
    return -1;
  }
  return statedir_write_atomic(state_dir, OBFS4_BRIDGELINE_FILE, (const uint8_t *)text,
                               (size_t)n, err, errlen);
}

/* ---- cert ---- */

void obfs4_cert_encode(char out[OBFS4_CERT_LEN + 1], const obfs4_bridge_t *b) {
  uint8_t raw[CERT_RAW_LEN];
  memcpy(raw, b->node_id, NTOR_NODE_ID_LEN);
  memcpy(raw + NTOR_NODE_ID_LEN, b->pk, NTOR_KEY_LEN);
  sodium_bin2base64(out, OBFS4_CERT_LEN + 1, raw, sizeof raw,
                    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int obfs4_cert_decode(obfs4_bridge_t *b, const char *text) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  /* Go's base64 decoder skips CR and LF wherever they are; obfs4proxy
   * decodes text + "==", which works only for exactly 70 characters. */
  char clean[OBFS4_CERT_LEN + 1];
  size_t n = 0;
  for (const char *p = text; *p; p++) {
    if (*p == '\r' || *p == '\n')
      continue;
    if (n == OBFS4_CERT_LEN || b64_value(*p) < 0)
      return -1;
    clean[n++] = *p;
  }
  if (n != OBFS4_CERT_LEN)
    return -1;
  /* The last character carries 2 bits of the last byte and 4 unused ones,
   * which Go's non-strict decoder ignores and libsodium insists are zero. */
  clean[n - 1] = alphabet[b64_value(clean[n - 1]) & 0x30];
  clean[n] = '\0';
  uint8_t raw[CERT_RAW_LEN];
  size_t got = 0;
  if (sodium_base642bin(raw, sizeof raw, clean, n, NULL, &got, NULL,
                        sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
      got != sizeof raw)
    return -1;
  memcpy(b->node_id, raw, NTOR_NODE_ID_LEN);
  memcpy(b->pk, raw + NTOR_NODE_ID_LEN, NTOR_KEY_LEN);
  sodium_memzero(raw, sizeof raw);
  sodium_memzero(clean, sizeof clean);
  return 0;
}

/* ---- the client's arguments ---- */

int obfs4_client_args_parse(const kvlist_t *args, obfs4_bridge_t *bridge,
                            obfs4_iat_mode_t *iat_mode, char *err, size_t errlen) {
  int rc = -1;
  /* As obfs4proxy: a cert wins over node-id and public-key (the bridge
   * line format before 0.0.3), and keys it does not know are ignored. */
  const char *cert = kvlist_get(args, KEY_CERT);
  if (cert) {
    if (obfs4_cert_decode(bridge, cert) != 0) {
      transport_arg_error("malformed", KEY_CERT, ": must be 70 characters of base64", err, errlen);
      goto out;
    }
  } else {
    const char *node_id = kvlist_get(args, KEY_NODE_ID);
    const char *pk = kvlist_get(args, KEY_PUBLIC_KEY);
    if (!node_id) {
      transport_arg_error("missing", KEY_CERT, " (or \"node-id\" and \"public-key\")", err, errlen);
      goto out;
    }
    if (hex_field(bridge->node_id, NTOR_NODE_ID_LEN, node_id, strlen(node_id), false) != 0) {
      transport_arg_error("malformed", KEY_NODE_ID, ": must be 40 hex digits", err, errlen);
      goto out;
    }
    if (!pk) {
      transport_arg_error("missing", KEY_PUBLIC_KEY, "", err, errlen);
      goto out;
    }
    if (hex_field(bridge->pk, NTOR_KEY_LEN, pk, strlen(pk), false) != 0) {
      transport_arg_error("malformed", KEY_PUBLIC_KEY, ": must be 64 hex digits", err, errlen);
      goto out;
    }
  }
  const char *iat = kvlist_get(args, KEY_IAT_MODE);
  if (!iat) {
    transport_arg_error("missing", KEY_IAT_MODE, "", err, errlen);
    goto out;
  }
  if (iat_parse(iat, iat_mode) != 0) {
    transport_arg_error("malformed", KEY_IAT_MODE, ": must be 0, 1 or 2", err, errlen);
    goto out;
  }
  rc = 0;
out:
  if (rc != 0)
    sodium_memzero(bridge, sizeof *bridge);
  return rc;
}
