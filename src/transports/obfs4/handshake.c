/* handshake: see handshake.h. Stateless between calls apart from what the
 * hs structs hold: each call re-examines all bytes received so far, as
 * obfs4proxy does, so a request split anywhere parses the same. */
#define OBFS4_HANDSHAKE_PRIVATE
#include "transports/obfs4/handshake.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#define HS_REPR_LEN ELLIGATOR2_KEY_LEN
/* Where a client's M_C may start at the earliest: after X' and the
 * minimum padding. */
#define HS_CLIENT_MARK_MIN (HS_REPR_LEN + OBFS4_CLIENT_MIN_PAD)
/* Where a server's M_S may start at the earliest: after Y' | AUTH. */
#define HS_SERVER_MARK_MIN (HS_REPR_LEN + NTOR_AUTH_LEN + OBFS4_SERVER_MIN_PAD)

uint64_t obfs4_epoch_hour(uint64_t unix_seconds) {
  return unix_seconds / 3600;
}

/* E is signed in obfs4proxy: an hour before hour 0 is "-1". */
static void hs_epoch_text(char out[OBFS4_EPOCH_MAX], int64_t hour) {
  snprintf(out, OBFS4_EPOCH_MAX, "%" PRId64, hour);
}

/* Marks and MACs are HMAC-SHA256(B | NODEID, ...) cut to 16 bytes. */
static void hs_hmac_init(ntor_hmac_t *h, const obfs4_bridge_t *b) {
  uint8_t key[NTOR_KEY_LEN + NTOR_NODE_ID_LEN];
  memcpy(key, b->pk, NTOR_KEY_LEN);
  memcpy(key + NTOR_KEY_LEN, b->node_id, NTOR_NODE_ID_LEN);
  ntor_hmac_init(h, key, sizeof key);
}

static void hs_hmac_final16(ntor_hmac_t *h, uint8_t out[OBFS4_MAC_LEN]) {
  uint8_t full[NTOR_HMAC_LEN];
  ntor_hmac_final(h, full);
  memcpy(out, full, OBFS4_MAC_LEN);
}

static void hs_mark(uint8_t out[OBFS4_MARK_LEN], const obfs4_bridge_t *b,
                    const uint8_t repr[HS_REPR_LEN]) {
  ntor_hmac_t h;
  hs_hmac_init(&h, b);
  ntor_hmac_update(&h, repr, HS_REPR_LEN);
  hs_hmac_final16(&h, out);
}

static void hs_mac(uint8_t out[OBFS4_MAC_LEN], const obfs4_bridge_t *b, const uint8_t *msg,
                   size_t len, const char *epoch) {
  ntor_hmac_t h;
  hs_hmac_init(&h, b);
  ntor_hmac_update(&h, msg, len);
  ntor_hmac_update(&h, epoch, strlen(epoch));
  hs_hmac_final16(&h, out);
}

/* out holds X' | P_C (padlen bytes, already in place): adds M_C | MAC_C. */
static size_t hs_client_finish(obfs4_client_hs_t *hs, uint8_t *out, size_t padlen,
                               uint64_t epoch_hour) {
  size_t n = HS_REPR_LEN + padlen;

  memcpy(out, hs->eph.repr, HS_REPR_LEN);
  hs_mark(out + n, &hs->bridge, hs->eph.repr);
  n += OBFS4_MARK_LEN;
  hs_epoch_text(hs->epoch, (int64_t)epoch_hour);
  hs_mac(out + n, &hs->bridge, out, n, hs->epoch);
  return n + OBFS4_MAC_LEN;
}

static bool hs_client_padlen_ok(size_t padlen) {
  return padlen >= OBFS4_CLIENT_MIN_PAD && padlen <= OBFS4_CLIENT_MAX_PAD;
}

size_t obfs4_client_hs_request(obfs4_client_hs_t *hs, uint8_t out[OBFS4_MAX_HANDSHAKE_LEN],
                               size_t padlen, uint64_t epoch_hour) {
  if (!hs_client_padlen_ok(padlen))
    return 0;
  randombytes_buf(out + HS_REPR_LEN, padlen);
  return hs_client_finish(hs, out, padlen, epoch_hour);
}

size_t obfs4_client_hs_request_with_pad(obfs4_client_hs_t *hs,
                                        uint8_t out[OBFS4_MAX_HANDSHAKE_LEN],
                                        const uint8_t *pad, size_t padlen, uint64_t epoch_hour) {
  if (!hs_client_padlen_ok(padlen))
    return 0;
  if (padlen > 0)
    memcpy(out + HS_REPR_LEN, pad, padlen);
  return hs_client_finish(hs, out, padlen, epoch_hour);
}

obfs4_hs_result_t obfs4_client_hs_reply(obfs4_client_hs_t *hs, const uint8_t *buf, size_t len,
                                        size_t *consumed, uint8_t keymat[OBFS4_KEYMAT_LEN]) {
  uint8_t mark[OBFS4_MARK_LEN], mac[OBFS4_MAC_LEN], Y[NTOR_KEY_LEN];
  uint8_t key_seed[NTOR_KEY_SEED_LEN], auth[NTOR_AUTH_LEN];
  size_t end = len < OBFS4_MAX_HANDSHAKE_LEN ? len : OBFS4_MAX_HANDSHAKE_LEN;
  const uint8_t *hit = NULL;
  obfs4_hs_result_t rc = OBFS4_HS_ERROR;
  size_t pos;

  if (len < OBFS4_SERVER_HS_MIN_LEN)
    return OBFS4_HS_NEED_MORE;
  hs_mark(mark, &hs->bridge, buf);
  /* The server may send frames right after its reply, so M_S has to be
   * searched for. Only its first occurrence counts: if that one is too
   * close to the end for MAC_S, obfs4proxy waits for more. M_S derives
   * from public values, so searching in variable time leaks nothing. */
  if (end - HS_SERVER_MARK_MIN >= OBFS4_MARK_LEN + OBFS4_MAC_LEN)
    hit = memmem(buf + HS_SERVER_MARK_MIN, end - HS_SERVER_MARK_MIN, mark, OBFS4_MARK_LEN);
  if (hit == NULL || (size_t)(hit - buf) + OBFS4_MARK_LEN + OBFS4_MAC_LEN > end)
    return len >= OBFS4_MAX_HANDSHAKE_LEN ? OBFS4_HS_ERROR : OBFS4_HS_NEED_MORE;
  pos = (size_t)(hit - buf);

  hs_mac(mac, &hs->bridge, buf, pos + OBFS4_MARK_LEN, hs->epoch);
  if (sodium_memcmp(mac, buf + pos + OBFS4_MARK_LEN, OBFS4_MAC_LEN) != 0)
    return OBFS4_HS_ERROR;

  elligator2_repr_to_pk(Y, buf);
  if (!ntor_client(key_seed, auth, hs->bridge.node_id, hs->bridge.pk, hs->eph.pk, hs->eph.sk, Y))
    goto done;
  if (sodium_memcmp(auth, buf + HS_REPR_LEN, NTOR_AUTH_LEN) != 0)
    goto done;
  ntor_kdf(keymat, OBFS4_KEYMAT_LEN, key_seed);
  *consumed = pos + OBFS4_MARK_LEN + OBFS4_MAC_LEN;
  rc = OBFS4_HS_OK;
done:
  sodium_memzero(key_seed, sizeof key_seed);
  sodium_memzero(auth, sizeof auth);
  return rc;
}

obfs4_hs_result_t obfs4_server_hs_request(obfs4_server_hs_t *hs, replay_filter_t *rf,
                                          const uint8_t *buf, size_t len, uint64_t now_s) {
  static const int offsets[] = {0, -1, 1};
  const obfs4_bridge_t *b = &hs->id->pub;
  ntor_hmac_t prefix;
  uint8_t mark[OBFS4_MARK_LEN];
  size_t end = len < OBFS4_MAX_HANDSHAKE_LEN ? len : OBFS4_MAX_HANDSHAKE_LEN;
  int64_t hour = (int64_t)obfs4_epoch_hour(now_s);
  bool found = false;
  size_t pos;

  hs->accepted = false;
  if (len < OBFS4_CLIENT_HS_MIN_LEN)
    return OBFS4_HS_NEED_MORE;
  hs_mark(mark, b, buf);
  /* The client cannot send anything after MAC_C before it has our reply,
   * so M_C can only be at the end of what came. */
  if (end < HS_CLIENT_MARK_MIN + OBFS4_MARK_LEN + OBFS4_MAC_LEN ||
      sodium_memcmp(buf + end - OBFS4_MARK_LEN - OBFS4_MAC_LEN, mark, OBFS4_MARK_LEN) != 0)
    return len >= OBFS4_MAX_HANDSHAKE_LEN ? OBFS4_HS_ERROR : OBFS4_HS_NEED_MORE;
  pos = end - OBFS4_MARK_LEN - OBFS4_MAC_LEN;

  /* All three candidate MACs are computed whichever matches, as in
   * obfs4proxy, so the time taken says little about the client's clock.
   * The message (up to 8 KiB of it padding) is hashed once; each
   * candidate finishes a copy of that state with its own E. */
  hs_hmac_init(&prefix, b);
  ntor_hmac_update(&prefix, buf, pos + OBFS4_MARK_LEN);
  for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
    ntor_hmac_t h;
    char epoch[OBFS4_EPOCH_MAX];
    uint8_t mac[OBFS4_MAC_LEN];
    const uint8_t *mac_rx = buf + pos + OBFS4_MARK_LEN;

    ntor_hmac_copy(&h, &prefix);
    hs_epoch_text(epoch, hour + offsets[i]);
    ntor_hmac_update(&h, epoch, strlen(epoch));
    hs_hmac_final16(&h, mac);
    if (sodium_memcmp(mac, mac_rx, OBFS4_MAC_LEN) == 0) {
      if (replay_filter_test_and_set(rf, now_s, mac_rx, OBFS4_MAC_LEN)) {
        ntor_hmac_drop(&prefix);
        return OBFS4_HS_REPLAY;
      }
      found = true;
      memcpy(hs->epoch, epoch, sizeof epoch);
    }
  }
  ntor_hmac_drop(&prefix);
  if (!found)
    return OBFS4_HS_ERROR;
  /* Reachable only past OBFS4_MAX_HANDSHAKE_LEN; obfs4proxy checks it
   * after recording the MAC, and so do we. */
  if (len != pos + OBFS4_MARK_LEN + OBFS4_MAC_LEN)
    return OBFS4_HS_ERROR;
  elligator2_repr_to_pk(hs->X, buf);
  hs->accepted = true;
  return OBFS4_HS_OK;
}

/* The minimum is 0, which a size_t cannot be below. */
_Static_assert(OBFS4_SERVER_MIN_PAD == 0, "server padding has a lower bound to check");

static bool hs_server_padlen_ok(size_t padlen) {
  return padlen <= OBFS4_SERVER_MAX_PAD;
}

/* out holds Y' | AUTH | P_S with P_S (padlen bytes) already in place. */
static size_t hs_server_finish(obfs4_server_hs_t *hs, const elligator2_keypair_t *eph,
                               uint8_t *out, size_t padlen, uint8_t keymat[OBFS4_KEYMAT_LEN]) {
  const obfs4_identity_t *id = hs->id;
  size_t n = HS_REPR_LEN + NTOR_AUTH_LEN + padlen;

  if (!ntor_server(hs->key_seed, hs->auth, id->pub.node_id, id->pub.pk, id->sk, eph->pk, eph->sk,
                   hs->X)) {
    sodium_memzero(hs->key_seed, sizeof hs->key_seed);
    sodium_memzero(out, n);
    return 0;
  }
  memcpy(out, eph->repr, HS_REPR_LEN);
  memcpy(out + HS_REPR_LEN, hs->auth, NTOR_AUTH_LEN);
  hs_mark(out + n, &id->pub, eph->repr);
  n += OBFS4_MARK_LEN;
  hs_mac(out + n, &id->pub, out, n, hs->epoch);
  ntor_kdf(keymat, OBFS4_KEYMAT_LEN, hs->key_seed);
  return n + OBFS4_MAC_LEN;
}

size_t obfs4_server_hs_reply(obfs4_server_hs_t *hs, const elligator2_keypair_t *eph,
                             uint8_t out[OBFS4_MAX_HANDSHAKE_LEN], size_t padlen,
                             uint8_t keymat[OBFS4_KEYMAT_LEN]) {
  if (!hs->accepted || !hs_server_padlen_ok(padlen))
    return 0;
  randombytes_buf(out + HS_REPR_LEN + NTOR_AUTH_LEN, padlen);
  return hs_server_finish(hs, eph, out, padlen, keymat);
}

size_t obfs4_server_hs_reply_with_pad(obfs4_server_hs_t *hs, const elligator2_keypair_t *eph,
                                      uint8_t out[OBFS4_MAX_HANDSHAKE_LEN], const uint8_t *pad,
                                      size_t padlen, uint8_t keymat[OBFS4_KEYMAT_LEN]) {
  if (!hs->accepted || !hs_server_padlen_ok(padlen))
    return 0;
  if (padlen > 0)
    memcpy(out + HS_REPR_LEN + NTOR_AUTH_LEN, pad, padlen);
  return hs_server_finish(hs, eph, out, padlen, keymat);
}

void obfs4_client_hs_clear(obfs4_client_hs_t *hs) {
  sodium_memzero(hs, sizeof *hs);
}

void obfs4_server_hs_clear(obfs4_server_hs_t *hs) {
  const obfs4_identity_t *id = hs->id;
  sodium_memzero(hs, sizeof *hs);
  hs->id = id;
}
