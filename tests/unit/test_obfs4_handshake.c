/* Unit tests for transports/obfs4/handshake: the messages obfs4proxy's own
 * client and server exchanged (obfs4_vectors_ntor.h part 2) rebuilt and
 * parsed byte for byte, our client against our server, and every way
 * obfs4proxy's rules turn a request or a reply down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#define OBFS4_HANDSHAKE_PRIVATE
#include "transports/obfs4/handshake.h"

#include "obfs4_vectors_ntor.h"

#define VEC_NOW (OBFS4_VEC_HS_EPOCH_HOUR * 3600 + 1800)
#define HOUR 3600

static obfs4_identity_t vec_id;

static void vec_client(obfs4_client_hs_t *c) {
  memset(c, 0, sizeof *c);
  c->bridge = vec_id.pub;
  memcpy(c->eph.pk, obfs4_vec_hs_client_pk, 32);
  memcpy(c->eph.sk, obfs4_vec_hs_client_sk, 32);
  memcpy(c->eph.repr, obfs4_vec_hs_client_repr, 32);
  /* What the client sent E as: its MAC_S check uses it. */
  snprintf(c->epoch, sizeof c->epoch, "%llu", (unsigned long long)OBFS4_VEC_HS_EPOCH_HOUR);
}

static void vec_server_eph(elligator2_keypair_t *kp) {
  memcpy(kp->pk, obfs4_vec_hs_server_pk, 32);
  memcpy(kp->sk, obfs4_vec_hs_server_sk, 32);
  memcpy(kp->repr, obfs4_vec_hs_server_repr, 32);
}

/* HMAC-SHA256-128(B | NODEID, msg | epoch), written out independently of
 * the code under test, to forge messages that are right but for one part. */
static void test_mac(uint8_t out[16], const uint8_t *msg, size_t len, const char *epoch) {
  uint8_t key[52], full[32];
  crypto_auth_hmacsha256_state st;
  memcpy(key, vec_id.pub.pk, 32);
  memcpy(key + 32, vec_id.pub.node_id, 20);
  crypto_auth_hmacsha256_init(&st, key, sizeof key);
  crypto_auth_hmacsha256_update(&st, msg, len);
  crypto_auth_hmacsha256_update(&st, (const uint8_t *)epoch, strlen(epoch));
  crypto_auth_hmacsha256_final(&st, full);
  memcpy(out, full, 16);
}

static obfs4_hs_result_t server_parse(const uint8_t *buf, size_t len, uint64_t now,
                                      replay_filter_t *rf, obfs4_server_hs_t *hs) {
  *hs = (obfs4_server_hs_t){.id = &vec_id};
  return obfs4_server_hs_request(hs, rf, buf, len, now);
}

/* ---- obfs4proxy's messages ---- */

static void test_epoch_hour(void **state) {
  assert_int_equal(obfs4_epoch_hour(0), 0);
  assert_int_equal(obfs4_epoch_hour(3599), 0);
  assert_int_equal(obfs4_epoch_hour(3600), 1);
  assert_int_equal(obfs4_epoch_hour(VEC_NOW), OBFS4_VEC_HS_EPOCH_HOUR);
}

/* The session keys are obfs4proxy's Elligator 2 keys: our map agrees. */
static void test_vector_keys_are_elligator(void **state) {
  elligator2_keypair_t kp;
  uint8_t pk[32];
  elligator2_repr_to_pk(pk, obfs4_vec_hs_client_repr);
  assert_memory_equal(pk, obfs4_vec_hs_client_pk, 32);
  elligator2_repr_to_pk(pk, obfs4_vec_hs_server_repr);
  assert_memory_equal(pk, obfs4_vec_hs_server_pk, 32);
  assert_true(elligator2_keypair_from_sk(&kp, obfs4_vec_hs_client_sk, OBFS4_VEC_HS_CLIENT_TWEAK));
  assert_memory_equal(kp.pk, obfs4_vec_hs_client_pk, 32);
  assert_memory_equal(kp.repr, obfs4_vec_hs_client_repr, 32);
  assert_true(elligator2_keypair_from_sk(&kp, obfs4_vec_hs_server_sk, OBFS4_VEC_HS_SERVER_TWEAK));
  assert_memory_equal(kp.pk, obfs4_vec_hs_server_pk, 32);
  assert_memory_equal(kp.repr, obfs4_vec_hs_server_repr, 32);
}

static void test_client_request_is_obfs4proxys(void **state) {
  obfs4_client_hs_t c;
  static uint8_t out[OBFS4_MAX_HANDSHAKE_LEN];
  vec_client(&c);
  size_t n = obfs4_client_hs_request_with_pad(&c, out, obfs4_vec_hs_request + 32,
                                              OBFS4_VEC_HS_CLIENT_PADLEN, OBFS4_VEC_HS_EPOCH_HOUR);
  assert_int_equal(n, sizeof obfs4_vec_hs_request);
  assert_memory_equal(out, obfs4_vec_hs_request, n);
  obfs4_client_hs_clear(&c);
}

static void test_server_accepts_obfs4proxys_request(void **state) {
  replay_filter_t *rf = replay_filter_new(16, OBFS4_REPLAY_TTL_S);
  obfs4_server_hs_t hs;
  elligator2_keypair_t eph;
  static uint8_t out[OBFS4_MAX_HANDSHAKE_LEN];
  uint8_t keymat[OBFS4_KEYMAT_LEN];

  assert_int_equal(server_parse(obfs4_vec_hs_request, sizeof obfs4_vec_hs_request, VEC_NOW, rf, &hs),
                   OBFS4_HS_OK);
  assert_memory_equal(hs.X, obfs4_vec_hs_client_pk, 32);
  assert_int_equal(replay_filter_count(rf), 1);

  /* With obfs4proxy's server key and padding, our reply is its reply. */
  vec_server_eph(&eph);
  size_t n = obfs4_server_hs_reply_with_pad(&hs, &eph, out, obfs4_vec_hs_reply + 64,
                                            OBFS4_VEC_HS_SERVER_PADLEN, keymat);
  assert_int_equal(n, OBFS4_VEC_HS_REPLY_LEN);
  assert_memory_equal(out, obfs4_vec_hs_reply, n);
  assert_memory_equal(hs.key_seed, obfs4_vec_hs_key_seed, 32);
  assert_memory_equal(hs.auth, obfs4_vec_hs_auth, 32);
  assert_memory_equal(keymat, obfs4_vec_hs_keymat, sizeof keymat);

  obfs4_server_hs_clear(&hs);
  assert_ptr_equal(hs.id, &vec_id);
  assert_true(sodium_is_zero(hs.key_seed, sizeof hs.key_seed));
  assert_false(hs.accepted);
  replay_filter_free(rf);
}

/* The reply as obfs4proxy wrote it, PRNG seed frame and all. */
static void test_client_accepts_obfs4proxys_reply(void **state) {
  obfs4_client_hs_t c;
  uint8_t keymat[OBFS4_KEYMAT_LEN];
  size_t consumed = 0;
  vec_client(&c);
  assert_int_equal(
      obfs4_client_hs_reply(&c, obfs4_vec_hs_reply, sizeof obfs4_vec_hs_reply, &consumed, keymat),
      OBFS4_HS_OK);
  assert_int_equal(consumed, OBFS4_VEC_HS_REPLY_LEN);
  assert_memory_equal(keymat, obfs4_vec_hs_keymat, sizeof keymat);
  obfs4_client_hs_clear(&c);
  assert_true(sodium_is_zero(c.eph.sk, sizeof c.eph.sk));
}

/* E-1 and E+1 are accepted (the client's clock may be an hour off
 * either way); E-2 and E+2 are not. */
static void test_server_epoch_window(void **state) {
  static const struct {
    int64_t shift_h;
    obfs4_hs_result_t want;
  } cases[] = {{0, OBFS4_HS_OK}, {-1, OBFS4_HS_OK}, {1, OBFS4_HS_OK},
               {-2, OBFS4_HS_ERROR}, {2, OBFS4_HS_ERROR}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    replay_filter_t *rf = replay_filter_new(16, OBFS4_REPLAY_TTL_S);
    obfs4_server_hs_t hs;
    uint64_t now = (uint64_t)((int64_t)VEC_NOW + cases[i].shift_h * HOUR);
    obfs4_hs_result_t r = server_parse(obfs4_vec_hs_request, sizeof obfs4_vec_hs_request, now, rf, &hs);
    if (r != cases[i].want)
      fail_msg("server at E%+lld: %d, want %d", (long long)cases[i].shift_h, r, cases[i].want);
    /* Only an accepted MAC is remembered. */
    assert_int_equal(replay_filter_count(rf), r == OBFS4_HS_OK ? 1 : 0);
    if (r == OBFS4_HS_OK) {
      /* The reply's MAC uses the E the client sent, not the server's. */
      char want[OBFS4_EPOCH_MAX];
      snprintf(want, sizeof want, "%llu", (unsigned long long)OBFS4_VEC_HS_EPOCH_HOUR);
      assert_string_equal(hs.epoch, want);
    }
    replay_filter_free(rf);
  }
}

/* Fed one byte at a time, a request is NEED_MORE until its last byte. */
static void test_server_request_bytewise(void **state) {
  replay_filter_t *rf = replay_filter_new(16, OBFS4_REPLAY_TTL_S);
  obfs4_server_hs_t hs = {.id = &vec_id};
  size_t n = sizeof obfs4_vec_hs_request;
  for (size_t len = 0; len < n; len++) {
    obfs4_hs_result_t r = obfs4_server_hs_request(&hs, rf, obfs4_vec_hs_request, len, VEC_NOW);
    if (r != OBFS4_HS_NEED_MORE)
      fail_msg("at %zu of %zu bytes: %d", len, n, r);
  }
  assert_int_equal(obfs4_server_hs_request(&hs, rf, obfs4_vec_hs_request, n, VEC_NOW), OBFS4_HS_OK);
  replay_filter_free(rf);
}

/* Fed one byte at a time, a reply is NEED_MORE until its last byte: the
 * seed frame after it is not needed. */
static void test_client_reply_bytewise(void **state) {
  obfs4_client_hs_t c;
  uint8_t keymat[OBFS4_KEYMAT_LEN];
  size_t consumed = 0;
  vec_client(&c);
  for (size_t len = 0; len < OBFS4_VEC_HS_REPLY_LEN; len++) {
    obfs4_hs_result_t r = obfs4_client_hs_reply(&c, obfs4_vec_hs_reply, len, &consumed, keymat);
    if (r != OBFS4_HS_NEED_MORE)
      fail_msg("at %zu of %d bytes: %d", len, OBFS4_VEC_HS_REPLY_LEN, r);
  }
  assert_int_equal(obfs4_client_hs_reply(&c, obfs4_vec_hs_reply, OBFS4_VEC_HS_REPLY_LEN, &consumed,
                                         keymat),
                   OBFS4_HS_OK);
  assert_int_equal(consumed, OBFS4_VEC_HS_REPLY_LEN);
}

/* ---- our client with our server ---- */

static void roundtrip(size_t cpad, size_t spad) {
  replay_filter_t *rf = replay_filter_new(16, OBFS4_REPLAY_TTL_S);
  obfs4_client_hs_t c = {.bridge = vec_id.pub};
  obfs4_server_hs_t s = {.id = &vec_id};
  elligator2_keypair_t eph;
  static uint8_t req[OBFS4_MAX_HANDSHAKE_LEN], rep[OBFS4_MAX_HANDSHAKE_LEN];
  uint8_t ckeys[OBFS4_KEYMAT_LEN], skeys[OBFS4_KEYMAT_LEN];
  size_t consumed = 0;
  uint64_t now = 1700000000;

  elligator2_keypair_generate(&c.eph);
  size_t rlen = obfs4_client_hs_request(&c, req, cpad, obfs4_epoch_hour(now));
  assert_int_equal(rlen, OBFS4_CLIENT_HS_MIN_LEN + cpad);
  assert_memory_equal(req, c.eph.repr, 32);
  assert_int_equal(obfs4_server_hs_request(&s, rf, req, rlen, now), OBFS4_HS_OK);
  assert_memory_equal(s.X, c.eph.pk, 32);

  elligator2_keypair_generate(&eph);
  size_t plen = obfs4_server_hs_reply(&s, &eph, rep, spad, skeys);
  assert_int_equal(plen, OBFS4_SERVER_HS_MIN_LEN + spad);
  assert_int_equal(obfs4_client_hs_reply(&c, rep, plen, &consumed, ckeys), OBFS4_HS_OK);
  assert_int_equal(consumed, plen);
  assert_memory_equal(ckeys, skeys, sizeof ckeys);
  /* The two directions get different keys. */
  assert_memory_not_equal(ckeys + OBFS4_KEYMAT_C2S, ckeys + OBFS4_KEYMAT_S2C, 72);
  replay_filter_free(rf);
}

static void test_roundtrip_paddings(void **state) {
  roundtrip(OBFS4_CLIENT_MIN_PAD, OBFS4_SERVER_MIN_PAD);
  roundtrip(OBFS4_CLIENT_MAX_PAD, OBFS4_SERVER_MAX_PAD);
  roundtrip(1000, 77);
}

/* Padding is random, so two requests with the same key differ. */
static void test_padding_is_random(void **state) {
  obfs4_client_hs_t c;
  static uint8_t a[OBFS4_MAX_HANDSHAKE_LEN], b[OBFS4_MAX_HANDSHAKE_LEN];
  vec_client(&c);
  assert_int_equal(obfs4_client_hs_request(&c, a, 200, 1), 264);
  assert_int_equal(obfs4_client_hs_request(&c, b, 200, 1), 264);
  assert_memory_equal(a, b, 32);
  assert_memory_not_equal(a + 32, b + 32, 200);
  /* M_C depends on X' only. */
  assert_memory_equal(a + 232, b + 232, 16);
}

static void test_padding_bounds(void **state) {
  obfs4_client_hs_t c;
  obfs4_server_hs_t s = {.id = &vec_id};
  elligator2_keypair_t eph;
  static uint8_t out[OBFS4_MAX_HANDSHAKE_LEN];
  uint8_t keymat[OBFS4_KEYMAT_LEN];
  replay_filter_t *rf = replay_filter_new(4, OBFS4_REPLAY_TTL_S);

  vec_client(&c);
  assert_int_equal(obfs4_client_hs_request(&c, out, OBFS4_CLIENT_MIN_PAD - 1, 1), 0);
  assert_int_equal(obfs4_client_hs_request(&c, out, OBFS4_CLIENT_MAX_PAD + 1, 1), 0);
  assert_int_equal(obfs4_client_hs_request(&c, out, OBFS4_CLIENT_MAX_PAD, 1),
                   OBFS4_MAX_HANDSHAKE_LEN);

  vec_server_eph(&eph);
  /* No reply before a request was accepted. */
  assert_int_equal(obfs4_server_hs_reply(&s, &eph, out, 0, keymat), 0);
  assert_int_equal(obfs4_server_hs_request(&s, rf, obfs4_vec_hs_request, sizeof obfs4_vec_hs_request,
                                           VEC_NOW),
                   OBFS4_HS_OK);
  assert_int_equal(obfs4_server_hs_reply(&s, &eph, out, OBFS4_SERVER_MAX_PAD + 1, keymat), 0);
  /* Room is left for the 45-byte seed frame. */
  assert_int_equal(obfs4_server_hs_reply(&s, &eph, out, OBFS4_SERVER_MAX_PAD, keymat),
                   OBFS4_MAX_HANDSHAKE_LEN - 45);
  replay_filter_free(rf);
}

/* ---- the server turns requests down ---- */

static void test_server_too_short(void **state) {
  replay_filter_t *rf = replay_filter_new(4, OBFS4_REPLAY_TTL_S);
  obfs4_server_hs_t hs;
  /* Shorter than X' | P_C(77) | M_C | MAC_C: M_C is not looked for. */
  for (size_t len = 0; len < 32 + 77 + 32; len++)
    assert_int_equal(server_parse(obfs4_vec_hs_request, len, VEC_NOW, rf, &hs), OBFS4_HS_NEED_MORE);
  replay_filter_free(rf);
}

/* Bytes with no M_C at their end: NEED_MORE until 8192 bytes, then an
 * ERROR, and beyond as well. */
static void test_server_no_mark(void **state) {
  replay_filter_t *rf = replay_filter_new(4, OBFS4_REPLAY_TTL_S);
  obfs4_server_hs_t hs;
  static uint8_t junk[OBFS4_MAX_HANDSHAKE_LEN + 100];
  randombytes_buf(junk, sizeof junk);
  assert_int_equal(server_parse(junk, 200, VEC_NOW, rf, &hs), OBFS4_HS_NEED_MORE);
  assert_int_equal(server_parse(junk, OBFS4_MAX_HANDSHAKE_LEN - 1, VEC_NOW, rf, &hs),
                   OBFS4_HS_NEED_MORE);
  assert_int_equal(server_parse(junk, OBFS4_MAX_HANDSHAKE_LEN, VEC_NOW, rf, &hs), OBFS4_HS_ERROR);
  assert_int_equal(server_parse(junk, sizeof junk, VEC_NOW, rf, &hs), OBFS4_HS_ERROR);
  assert_false(hs.accepted);
  replay_filter_free(rf);
}

/* A mark not at the end (the client sent one byte too many) is not
 * found: more is awaited, until 8192 bytes make it an ERROR. */
static void test_server_trailing_byte(void **state) {
  replay_filter_t *rf = replay_filter_new(4, OBFS4_REPLAY_TTL_S);
  obfs4_server_hs_t hs;
  static uint8_t buf[OBFS4_MAX_HANDSHAKE_LEN];
  size_t n = sizeof obfs4_vec_hs_request;
  memcpy(buf, obfs4_vec_hs_request, n);
  memset(buf + n, 0x5a, sizeof buf - n);
  assert_int_equal(server_parse(buf, n + 1, VEC_NOW, rf, &hs), OBFS4_HS_NEED_MORE);
  assert_int_equal(server_parse(buf, sizeof buf, VEC_NOW, rf, &hs), OBFS4_HS_ERROR);
  assert_int_equal(replay_filter_count(rf), 0);
  replay_filter_free(rf);
}

/* A request that fills all 8192 bytes, followed by more: obfs4proxy finds
 * M_C | MAC_C at bytes 8160..8191, records MAC_C, and only then refuses
 * the extra bytes. So the same request alone is afterwards a replay. */
static void test_server_bytes_after_full_request(void **state) {
  replay_filter_t *rf = replay_filter_new(4, OBFS4_REPLAY_TTL_S);
  obfs4_client_hs_t c;
  obfs4_server_hs_t hs;
  static uint8_t buf[OBFS4_MAX_HANDSHAKE_LEN + 1];
  vec_client(&c);
  assert_int_equal(obfs4_client_hs_request(&c, buf, OBFS4_CLIENT_MAX_PAD, OBFS4_VEC_HS_EPOCH_HOUR),
                   OBFS4_MAX_HANDSHAKE_LEN);
  buf[OBFS4_MAX_HANDSHAKE_LEN] = 0;
  assert_int_equal(server_parse(buf, sizeof buf, VEC_NOW, rf, &hs), OBFS4_HS_ERROR);
  assert_false(hs.accepted);
  assert_int_equal(replay_filter_count(rf), 1);
  assert_int_equal(server_parse(buf, OBFS4_MAX_HANDSHAKE_LEN, VEC_NOW, rf, &hs), OBFS4_HS_REPLAY);
  replay_filter_free(rf);
}

/* Any changed bit before MAC_C or in it: an ERROR (the mark is still
 * right, or the request would only wait). */
static void test_server_wrong_mac(void **state) {
  static const size_t flips[] = {32, 100, 32 + OBFS4_VEC_HS_CLIENT_PADLEN - 1,
                                 sizeof obfs4_vec_hs_request - 16, sizeof obfs4_vec_hs_request - 1};
  static uint8_t buf[sizeof obfs4_vec_hs_request];
  for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
    replay_filter_t *rf = replay_filter_new(4, OBFS4_REPLAY_TTL_S);
    obfs4_server_hs_t hs;
    memcpy(buf, obfs4_vec_hs_request, sizeof buf);
    buf[flips[i]] ^= 0x01;
    assert_int_equal(server_parse(buf, sizeof buf, VEC_NOW, rf, &hs), OBFS4_HS_ERROR);
    assert_int_equal(replay_filter_count(rf), 0);
    replay_filter_free(rf);
  }
}

/* A wrong mark (or a changed X', which changes the mark looked for)
 * leaves the request waiting for more, as in obfs4proxy. */
static void test_server_wrong_mark_waits(void **state) {
  static const size_t flips[] = {0, 31, sizeof obfs4_vec_hs_request - 32,
                                 sizeof obfs4_vec_hs_request - 17};
  static uint8_t buf[sizeof obfs4_vec_hs_request];
  for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
    replay_filter_t *rf = replay_filter_new(4, OBFS4_REPLAY_TTL_S);
    obfs4_server_hs_t hs;
    memcpy(buf, obfs4_vec_hs_request, sizeof buf);
    buf[flips[i]] ^= 0x80;
    assert_int_equal(server_parse(buf, sizeof buf, VEC_NOW, rf, &hs), OBFS4_HS_NEED_MORE);
    replay_filter_free(rf);
  }
}

/* A MAC made for E+-2 (with a right mark) is refused. */
static void test_server_mac_two_hours_off(void **state) {
  for (int d = -2; d <= 2; d += 4) {
    replay_filter_t *rf = replay_filter_new(4, OBFS4_REPLAY_TTL_S);
    obfs4_client_hs_t c;
    obfs4_server_hs_t hs;
    static uint8_t buf[OBFS4_MAX_HANDSHAKE_LEN];
    vec_client(&c);
    size_t n = obfs4_client_hs_request(&c, buf, 100, (uint64_t)((int64_t)OBFS4_VEC_HS_EPOCH_HOUR + d));
    assert_int_equal(server_parse(buf, n, VEC_NOW, rf, &hs), OBFS4_HS_ERROR);
    assert_int_equal(server_parse(buf, n, VEC_NOW + (uint64_t)((int64_t)d * HOUR / 2), rf, &hs),
                     OBFS4_HS_OK);
    replay_filter_free(rf);
  }
}

static void test_server_replay(void **state) {
  replay_filter_t *rf = replay_filter_new(4, OBFS4_REPLAY_TTL_S);
  obfs4_server_hs_t hs;
  assert_int_equal(server_parse(obfs4_vec_hs_request, sizeof obfs4_vec_hs_request, VEC_NOW, rf, &hs),
                   OBFS4_HS_OK);
  assert_int_equal(server_parse(obfs4_vec_hs_request, sizeof obfs4_vec_hs_request, VEC_NOW, rf, &hs),
                   OBFS4_HS_REPLAY);
  assert_false(hs.accepted);
  /* Still a replay an hour later, while the MAC is still valid. */
  assert_int_equal(server_parse(obfs4_vec_hs_request, sizeof obfs4_vec_hs_request, VEC_NOW + HOUR,
                                rf, &hs),
                   OBFS4_HS_REPLAY);
  assert_int_equal(replay_filter_count(rf), 1);
  replay_filter_free(rf);
}

/* The server's ntor fails on a low-order X: no reply. */
static void test_server_reply_zero_dh(void **state) {
  replay_filter_t *rf = replay_filter_new(4, OBFS4_REPLAY_TTL_S);
  obfs4_server_hs_t hs;
  elligator2_keypair_t eph;
  static uint8_t out[OBFS4_MAX_HANDSHAKE_LEN];
  uint8_t keymat[OBFS4_KEYMAT_LEN];
  assert_int_equal(server_parse(obfs4_vec_hs_request, sizeof obfs4_vec_hs_request, VEC_NOW, rf, &hs),
                   OBFS4_HS_OK);
  memset(hs.X, 0, sizeof hs.X);
  vec_server_eph(&eph);
  assert_int_equal(obfs4_server_hs_reply(&hs, &eph, out, 10, keymat), 0);
  assert_true(sodium_is_zero(hs.key_seed, sizeof hs.key_seed));
  replay_filter_free(rf);
}

/* ---- the client turns replies down ---- */

static obfs4_hs_result_t client_parse(const uint8_t *buf, size_t len, size_t *consumed) {
  obfs4_client_hs_t c;
  uint8_t keymat[OBFS4_KEYMAT_LEN];
  vec_client(&c);
  return obfs4_client_hs_reply(&c, buf, len, consumed, keymat);
}

static void test_client_no_mark(void **state) {
  static uint8_t junk[OBFS4_MAX_HANDSHAKE_LEN + 10];
  size_t consumed = 0;
  randombytes_buf(junk, sizeof junk);
  assert_int_equal(client_parse(junk, 95, &consumed), OBFS4_HS_NEED_MORE);
  assert_int_equal(client_parse(junk, 96, &consumed), OBFS4_HS_NEED_MORE);
  assert_int_equal(client_parse(junk, OBFS4_MAX_HANDSHAKE_LEN - 1, &consumed), OBFS4_HS_NEED_MORE);
  assert_int_equal(client_parse(junk, OBFS4_MAX_HANDSHAKE_LEN, &consumed), OBFS4_HS_ERROR);
  assert_int_equal(client_parse(junk, sizeof junk, &consumed), OBFS4_HS_ERROR);
  assert_int_equal(consumed, 0);
}

/* M_S must be complete with MAC_S within the first 8192 bytes. */
static void test_client_mark_past_limit(void **state) {
  static uint8_t buf[OBFS4_MAX_HANDSHAKE_LEN + 64];
  uint8_t mark[16];
  size_t consumed = 0;
  randombytes_buf(buf, sizeof buf);
  memcpy(buf, obfs4_vec_hs_reply, 64);
  memcpy(mark, obfs4_vec_hs_reply + OBFS4_VEC_HS_REPLY_LEN - 32, 16);
  memcpy(buf + OBFS4_MAX_HANDSHAKE_LEN - 24, mark, 16);
  assert_int_equal(client_parse(buf, sizeof buf, &consumed), OBFS4_HS_ERROR);
}

static void test_client_wrong_mac(void **state) {
  static uint8_t buf[sizeof obfs4_vec_hs_reply];
  static const size_t flips[] = {64, OBFS4_VEC_HS_REPLY_LEN - 1, OBFS4_VEC_HS_REPLY_LEN - 16};
  size_t consumed = 0;
  for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
    memcpy(buf, obfs4_vec_hs_reply, sizeof buf);
    buf[flips[i]] ^= 0x04;
    assert_int_equal(client_parse(buf, sizeof buf, &consumed), OBFS4_HS_ERROR);
  }
  /* The right MAC for another hour. */
  memcpy(buf, obfs4_vec_hs_reply, sizeof buf);
  char e[OBFS4_EPOCH_MAX];
  snprintf(e, sizeof e, "%llu", (unsigned long long)OBFS4_VEC_HS_EPOCH_HOUR + 1);
  test_mac(buf + OBFS4_VEC_HS_REPLY_LEN - 16, buf, OBFS4_VEC_HS_REPLY_LEN - 16, e);
  assert_int_equal(client_parse(buf, sizeof buf, &consumed), OBFS4_HS_ERROR);
  /* Our own MAC code agrees with the unchanged reply. */
  snprintf(e, sizeof e, "%llu", (unsigned long long)OBFS4_VEC_HS_EPOCH_HOUR);
  test_mac(buf + OBFS4_VEC_HS_REPLY_LEN - 16, buf, OBFS4_VEC_HS_REPLY_LEN - 16, e);
  assert_int_equal(client_parse(buf, sizeof buf, &consumed), OBFS4_HS_OK);
}

/* A wrong AUTH under a right MAC_S: ntor's check refuses it. */
static void test_client_wrong_auth(void **state) {
  static uint8_t buf[sizeof obfs4_vec_hs_reply];
  char e[OBFS4_EPOCH_MAX];
  size_t consumed = 0;
  snprintf(e, sizeof e, "%llu", (unsigned long long)OBFS4_VEC_HS_EPOCH_HOUR);
  for (size_t at = 32; at < 64; at += 31) {
    memcpy(buf, obfs4_vec_hs_reply, sizeof buf);
    buf[at] ^= 0x01;
    test_mac(buf + OBFS4_VEC_HS_REPLY_LEN - 16, buf, OBFS4_VEC_HS_REPLY_LEN - 16, e);
    assert_int_equal(client_parse(buf, sizeof buf, &consumed), OBFS4_HS_ERROR);
  }
}

/* A different Y' (right M_S and MAC_S for it) gives a different ntor
 * result, so obfs4proxy's AUTH no longer fits. */
static void test_client_wrong_server_key(void **state) {
  static uint8_t buf[OBFS4_VEC_HS_REPLY_LEN];
  uint8_t full[32], key[52];
  char e[OBFS4_EPOCH_MAX];
  size_t consumed = 0;
  crypto_auth_hmacsha256_state st;
  snprintf(e, sizeof e, "%llu", (unsigned long long)OBFS4_VEC_HS_EPOCH_HOUR);
  memcpy(buf, obfs4_vec_hs_reply, sizeof buf);
  buf[0] ^= 0x01;
  memcpy(key, vec_id.pub.pk, 32);
  memcpy(key + 32, vec_id.pub.node_id, 20);
  crypto_auth_hmacsha256_init(&st, key, sizeof key);
  crypto_auth_hmacsha256_update(&st, buf, 32);
  crypto_auth_hmacsha256_final(&st, full);
  memcpy(buf + sizeof buf - 32, full, 16);
  test_mac(buf + sizeof buf - 16, buf, sizeof buf - 16, e);
  assert_int_equal(client_parse(buf, sizeof buf, &consumed), OBFS4_HS_ERROR);
}

/* Only the first M_S counts: if it comes too late for MAC_S to fit in
 * what arrived, the client waits. */
static void test_client_first_mark_counts(void **state) {
  static uint8_t buf[OBFS4_VEC_HS_REPLY_LEN + 32];
  size_t consumed = 0;
  /* A copy of M_S early in the padding, without a valid MAC after it. */
  memcpy(buf, obfs4_vec_hs_reply, OBFS4_VEC_HS_REPLY_LEN);
  memcpy(buf + 100, obfs4_vec_hs_reply + OBFS4_VEC_HS_REPLY_LEN - 32, 16);
  assert_int_equal(client_parse(buf, OBFS4_VEC_HS_REPLY_LEN, &consumed), OBFS4_HS_ERROR);
  /* A copy right at the end of what came: waits for MAC_S. */
  memcpy(buf, obfs4_vec_hs_reply, 200);
  memcpy(buf + 150, obfs4_vec_hs_reply + OBFS4_VEC_HS_REPLY_LEN - 32, 16);
  assert_int_equal(client_parse(buf, 180, &consumed), OBFS4_HS_NEED_MORE);
}

static int setup(void **state) {
  if (sodium_init() < 0)
    return -1;
  memcpy(vec_id.pub.node_id, obfs4_vec_hs_node_id, sizeof vec_id.pub.node_id);
  memcpy(vec_id.pub.pk, obfs4_vec_hs_id_pk, sizeof vec_id.pub.pk);
  memcpy(vec_id.sk, obfs4_vec_hs_id_sk, sizeof vec_id.sk);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_epoch_hour),
      cmocka_unit_test(test_vector_keys_are_elligator),
      cmocka_unit_test(test_client_request_is_obfs4proxys),
      cmocka_unit_test(test_server_accepts_obfs4proxys_request),
      cmocka_unit_test(test_client_accepts_obfs4proxys_reply),
      cmocka_unit_test(test_server_epoch_window),
      cmocka_unit_test(test_server_request_bytewise),
      cmocka_unit_test(test_client_reply_bytewise),
      cmocka_unit_test(test_roundtrip_paddings),
      cmocka_unit_test(test_padding_is_random),
      cmocka_unit_test(test_padding_bounds),
      cmocka_unit_test(test_server_too_short),
      cmocka_unit_test(test_server_no_mark),
      cmocka_unit_test(test_server_trailing_byte),
      cmocka_unit_test(test_server_bytes_after_full_request),
      cmocka_unit_test(test_server_wrong_mac),
      cmocka_unit_test(test_server_wrong_mark_waits),
      cmocka_unit_test(test_server_mac_two_hours_off),
      cmocka_unit_test(test_server_replay),
      cmocka_unit_test(test_server_reply_zero_dh),
      cmocka_unit_test(test_client_no_mark),
      cmocka_unit_test(test_client_mark_past_limit),
      cmocka_unit_test(test_client_wrong_mac),
      cmocka_unit_test(test_client_wrong_auth),
      cmocka_unit_test(test_client_wrong_server_key),
      cmocka_unit_test(test_client_first_mark_counts),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
