/* fuzz_obfs4_handshake: obfs4's handshake parsers against arbitrary and
 * against nearly right bytes. The first input byte picks the mode:
 *
 *   0: the rest is a client request to a server with a fixed identity;
 *   1: a valid request built here (padding length, padding bytes and the
 *      client's epoch hour from the input), then bit flips and a new
 *      length from the input, parsed by the server;
 *   2: the rest is a server reply to a client with fixed keys;
 *   3: a valid request and reply built here, the reply then flipped and
 *      cut as in mode 1, parsed by the client.
 *
 * Keys and the clock are fixed and padding comes from the input (through
 * the *_with_pad builders), so a run depends on its input only.
 * Properties, __builtin_trap() on violation: NEED_MORE only below 8192
 * bytes; OK only for a length a valid message can have (and the reply
 * consumed within what arrived); an untouched message is accepted (a
 * reply only if its padding holds no copy of M_S) and yields the same keys
 * on both sides, a request then being a replay; a truncated one waits; a
 * request whose MAC is two hours off is refused. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#define OBFS4_HANDSHAKE_PRIVATE
#include "transports/obfs4/handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NOW UINT64_C(1700000000)
#define FZ_MAX_FLIPS 8
#define FZ_EXTRA 64 /* bytes a mutated message may grow by */

static obfs4_identity_t fz_id;
static elligator2_keypair_t fz_client_eph, fz_server_eph;

/* A keypair with a representative, from a fixed label. */
static void fz_keypair(elligator2_keypair_t *kp, const char *label) {
  uint8_t sk[32];
  for (uint8_t ctr = 0;; ctr++) {
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)label, strlen(label));
    crypto_hash_sha256_update(&st, &ctr, 1);
    crypto_hash_sha256_final(&st, sk);
    if (elligator2_keypair_from_sk(kp, sk, ctr))
      return;
  }
}

static void fz_init(void) {
  static bool done;
  if (done)
    return;
  done = true;
  if (sodium_init() < 0)
    __builtin_trap();
  for (size_t i = 0; i < sizeof fz_id.pub.node_id; i++)
    fz_id.pub.node_id[i] = (uint8_t)i;
  memset(fz_id.sk, 0x42, sizeof fz_id.sk);
  crypto_scalarmult_base(fz_id.pub.pk, fz_id.sk);
  fz_keypair(&fz_client_eph, "ptdispatch fuzz client");
  fz_keypair(&fz_server_eph, "ptdispatch fuzz server");
}

/* Reads the input front to back; past its end everything reads as 0. */
typedef struct {
  const uint8_t *p;
  size_t n;
} fz_cursor_t;

static uint8_t fz_u8(fz_cursor_t *c) {
  if (c->n == 0)
    return 0;
  c->n--;
  return *c->p++;
}

static size_t fz_u16(fz_cursor_t *c) {
  size_t hi = fz_u8(c);
  return hi << 8 | fz_u8(c);
}

/* len bytes of padding: the input's remaining bytes, repeated. */
static void fz_fill(uint8_t *out, size_t len, const fz_cursor_t *c) {
  for (size_t i = 0; i < len; i++)
    out[i] = c->n > 0 ? c->p[i % c->n] : (uint8_t)i;
}

typedef struct {
  size_t nflips;
  size_t pos[FZ_MAX_FLIPS];
  uint8_t mask[FZ_MAX_FLIPS];
  size_t newlen_sel;
} fz_mutation_t;

static void fz_read_mutation(fz_cursor_t *c, fz_mutation_t *m) {
  m->nflips = fz_u8(c) % (FZ_MAX_FLIPS + 1);
  for (size_t i = 0; i < m->nflips; i++) {
    m->pos[i] = fz_u16(c);
    m->mask[i] = fz_u8(c);
  }
  m->newlen_sel = fz_u16(c);
}

/* Applies m to the len-byte message in buf (room for len + FZ_EXTRA);
 * returns the new length. *changed says whether any byte differs. */
static size_t fz_mutate(uint8_t *buf, size_t len, const fz_mutation_t *m, bool *changed) {
  /* Mostly the whole message; otherwise any length up to FZ_EXTRA more. */
  size_t newlen = m->newlen_sel < 0x8000 ? len : m->newlen_sel % (len + FZ_EXTRA + 1);
  *changed = false;
  if (newlen > len)
    memset(buf + len, 0, newlen - len);
  for (size_t i = 0; i < m->nflips && newlen > 0; i++) {
    buf[m->pos[i] % newlen] ^= m->mask[i];
    if (m->mask[i] != 0 && m->pos[i] % newlen < len)
      *changed = true;
  }
  return newlen;
}

static void fz_check_server(obfs4_hs_result_t r, const obfs4_server_hs_t *hs, size_t len) {
  if (r == OBFS4_HS_NEED_MORE && len >= OBFS4_MAX_HANDSHAKE_LEN)
    __builtin_trap();
  if (r == OBFS4_HS_OK &&
      (!hs->accepted || len < OBFS4_CLIENT_HS_MIN_LEN + OBFS4_CLIENT_MIN_PAD ||
       len > OBFS4_MAX_HANDSHAKE_LEN))
    __builtin_trap();
  if (r != OBFS4_HS_OK && hs->accepted)
    __builtin_trap();
}

static void fz_check_client(obfs4_hs_result_t r, size_t consumed, size_t len) {
  if (r == OBFS4_HS_NEED_MORE && len >= OBFS4_MAX_HANDSHAKE_LEN)
    __builtin_trap();
  if (r == OBFS4_HS_OK &&
      (consumed < OBFS4_SERVER_HS_MIN_LEN || consumed > len || consumed > OBFS4_MAX_HANDSHAKE_LEN))
    __builtin_trap();
}

static void fz_server_raw(const uint8_t *p, size_t n) {
  replay_filter_t *rf = replay_filter_new(8, OBFS4_REPLAY_TTL_S);
  obfs4_server_hs_t hs = {.id = &fz_id};
  obfs4_hs_result_t r = obfs4_server_hs_request(&hs, rf, p, n, FZ_NOW);
  fz_check_server(r, &hs, n);
  if (r == OBFS4_HS_OK) {
    static uint8_t out[OBFS4_MAX_HANDSHAKE_LEN];
    uint8_t keymat[OBFS4_KEYMAT_LEN];
    size_t m = obfs4_server_hs_reply_with_pad(&hs, &fz_server_eph, out, p, 0, keymat);
    if (m != 0 && m != OBFS4_SERVER_HS_MIN_LEN)
      __builtin_trap();
  }
  obfs4_server_hs_clear(&hs);
  replay_filter_free(rf);
}

static void fz_client_raw(const uint8_t *p, size_t n) {
  obfs4_client_hs_t c = {.bridge = fz_id.pub, .eph = fz_client_eph};
  uint8_t keymat[OBFS4_KEYMAT_LEN];
  size_t consumed = 0;
  snprintf(c.epoch, sizeof c.epoch, "%llu", (unsigned long long)obfs4_epoch_hour(FZ_NOW));
  fz_check_client(obfs4_client_hs_reply(&c, p, n, &consumed, keymat), consumed, n);
  obfs4_client_hs_clear(&c);
}

/* Builds a request from the input: returns its length, *hour_off the
 * client's clock offset in hours (-2..2). */
static size_t fz_build_request(fz_cursor_t *c, obfs4_client_hs_t *hs, uint8_t *buf, int *hour_off) {
  static uint8_t pad[OBFS4_CLIENT_MAX_PAD];
  size_t padlen = OBFS4_CLIENT_MIN_PAD +
                  fz_u16(c) % (OBFS4_CLIENT_MAX_PAD - OBFS4_CLIENT_MIN_PAD + 1);
  *hour_off = (int)(fz_u8(c) % 5) - 2;
  *hs = (obfs4_client_hs_t){.bridge = fz_id.pub, .eph = fz_client_eph};
  fz_fill(pad, padlen, c);
  return obfs4_client_hs_request_with_pad(
      hs, buf, pad, padlen, (uint64_t)((int64_t)obfs4_epoch_hour(FZ_NOW) + *hour_off));
}

static void fz_server_mutated(fz_cursor_t *c) {
  static uint8_t buf[OBFS4_MAX_HANDSHAKE_LEN + FZ_EXTRA];
  obfs4_client_hs_t client;
  obfs4_server_hs_t hs = {.id = &fz_id};
  replay_filter_t *rf = replay_filter_new(8, OBFS4_REPLAY_TTL_S);
  fz_mutation_t m;
  int off;
  bool changed;

  size_t len = fz_build_request(c, &client, buf, &off);
  fz_read_mutation(c, &m);
  size_t newlen = fz_mutate(buf, len, &m, &changed);
  obfs4_hs_result_t r = obfs4_server_hs_request(&hs, rf, buf, newlen, FZ_NOW);
  fz_check_server(r, &hs, newlen);
  if (!changed && newlen == len) {
    if ((off >= -1 && off <= 1) != (r == OBFS4_HS_OK))
      __builtin_trap();
    if (r == OBFS4_HS_OK) {
      obfs4_server_hs_t again = {.id = &fz_id};
      if (obfs4_server_hs_request(&again, rf, buf, newlen, FZ_NOW) != OBFS4_HS_REPLAY)
        __builtin_trap();
    }
  }
  if (!changed && newlen < len && r != OBFS4_HS_NEED_MORE)
    __builtin_trap();
  obfs4_server_hs_clear(&hs);
  obfs4_client_hs_clear(&client);
  replay_filter_free(rf);
}

static void fz_client_mutated(fz_cursor_t *c) {
  static uint8_t req[OBFS4_MAX_HANDSHAKE_LEN], rep[OBFS4_MAX_HANDSHAKE_LEN + FZ_EXTRA];
  static uint8_t pad[OBFS4_SERVER_MAX_PAD];
  uint8_t skeys[OBFS4_KEYMAT_LEN], ckeys[OBFS4_KEYMAT_LEN];
  obfs4_client_hs_t client;
  obfs4_server_hs_t hs = {.id = &fz_id};
  replay_filter_t *rf = replay_filter_new(8, OBFS4_REPLAY_TTL_S);
  size_t consumed = 0;
  fz_mutation_t m;
  int off;
  bool changed;

  size_t qlen = fz_build_request(c, &client, req, &off);
  /* The server's clock agrees with the client's. */
  uint64_t now = (uint64_t)((int64_t)FZ_NOW + off * 3600);
  if (obfs4_server_hs_request(&hs, rf, req, qlen, now) != OBFS4_HS_OK)
    __builtin_trap();
  size_t padlen = fz_u16(c) % (OBFS4_SERVER_MAX_PAD + 1);
  fz_read_mutation(c, &m);
  fz_fill(pad, padlen, c);
  size_t len = obfs4_server_hs_reply_with_pad(&hs, &fz_server_eph, rep, pad, padlen, skeys);
  if (len != OBFS4_SERVER_HS_MIN_LEN + padlen)
    __builtin_trap();
  size_t newlen = fz_mutate(rep, len, &m, &changed);
  obfs4_hs_result_t r = obfs4_client_hs_reply(&client, rep, newlen, &consumed, ckeys);
  fz_check_client(r, consumed, newlen);
  /* The client takes the first M_S after Y' | AUTH: padding that happens
   * to hold a copy (the fuzzer finds it) spoils even an untouched reply,
   * in obfs4proxy too. */
  const uint8_t *first = memmem(rep + 64, len - 64, rep + len - 32, OBFS4_MARK_LEN);
  bool clean = first == rep + len - 32;
  if (!changed && clean && newlen >= len &&
      (r != OBFS4_HS_OK || consumed != len || memcmp(ckeys, skeys, sizeof ckeys) != 0))
    __builtin_trap();
  if (!changed && newlen < len && r != OBFS4_HS_NEED_MORE)
    __builtin_trap();
  obfs4_server_hs_clear(&hs);
  obfs4_client_hs_clear(&client);
  replay_filter_free(rf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_cursor_t c = {data + 1, size > 0 ? size - 1 : 0};
  fz_init();
  if (size == 0)
    return 0;
  switch (data[0] % 4) {
  case 0:
    fz_server_raw(c.p, c.n);
    break;
  case 1:
    fz_server_mutated(&c);
    break;
  case 2:
    fz_client_raw(c.p, c.n);
    break;
  default:
    fz_client_mutated(&c);
    break;
  }
  return 0;
}
