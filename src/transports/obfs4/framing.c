/* framing: obfs4's frames and packets (see framing.h for the format).
 *
 * This is the bulk data path, so neither direction allocates per frame
 * or copies more than it must. Sending reserves the whole frame in the
 * output evbuffer, writes the packet at its final place and seals it
 * there (secretbox writes the tag and ciphertext over the plaintext).
 * Receiving reads a box straight out of the input evbuffer when it is
 * contiguous there (else gathers it into a stack buffer and opens it in
 * place), and only the payload is copied on, into plain_out.
 *
 * Decoder states: next_len < 0, waiting for a 2-byte length; next_len
 * >= 0, the length bytes are drained and their mask used, waiting for
 * that many box bytes. failed latches the first error. */
#include "transports/obfs4/framing.h"

#include <string.h>

#include <event2/buffer.h>
#include <sodium.h>

#define LENGTH_LEN 2
#define TAG_LEN 16                                       /* Poly1305 */
#define MIN_BOX_LEN TAG_LEN                              /* no packet at all */
#define MAX_BOX_LEN (OBFS4_MAX_SEGMENT_LEN - LENGTH_LEN) /* 1446 */

_Static_assert(TAG_LEN == crypto_secretbox_MACBYTES && TAG_LEN == OBFS4_BOX_TAG_LEN,
               "obfs4 frames are NaCl secretboxes");
_Static_assert(crypto_secretbox_NONCEBYTES == 24, "16-byte prefix + 8-byte counter");
_Static_assert(OBFS4_FRAME_OVERHEAD == LENGTH_LEN + TAG_LEN, "frame overhead");
_Static_assert(OBFS4_MAX_FRAME_PAYLOAD == MAX_BOX_LEN - TAG_LEN, "frame payload");
_Static_assert(OBFS4_MAX_PACKET_PAYLOAD == OBFS4_MAX_FRAME_PAYLOAD - OBFS4_PACKET_OVERHEAD,
               "packet payload");
_Static_assert(OBFS4_FRAMING_KEY_LEN == 32 + 16 + DRBG_SEED_LEN, "key material layout");

void obfs4_framer_init(obfs4_framer_t *f, const uint8_t keymat[OBFS4_FRAMING_KEY_LEN]) {
  obfs4_box_key_init(&f->box, keymat, keymat + 32);
  f->counter = 1;
  drbg_init(&f->drbg, keymat + 48);
}

void obfs4_framer_clear(obfs4_framer_t *f) {
  sodium_memzero(f, sizeof *f);
}

/* The next length mask: the DRBG block's first two bytes, big-endian. */
static uint16_t next_mask(obfs4_framer_t *f) {
  uint8_t block[DRBG_BLOCK_LEN];
  drbg_next_block(&f->drbg, block);
  return (uint16_t)((block[0] << 8) | block[1]);
}

int obfs4_frame_packet(obfs4_framer_t *enc, struct evbuffer *out, uint8_t type,
                       const uint8_t *payload, size_t len, size_t padlen) {
  if (len > OBFS4_MAX_PACKET_PAYLOAD || padlen > OBFS4_MAX_PACKET_PAYLOAD - len)
    return -1;
  /* Counters start at 1, so 0 means all 2^64 - 1 nonces are used. */
  if (enc->counter == 0)
    return -1;
  size_t pkt_len = OBFS4_PACKET_OVERHEAD + len + padlen;
  size_t box_len = TAG_LEN + pkt_len;
  struct evbuffer_iovec v;
  if (evbuffer_reserve_space(out, (ev_ssize_t)(LENGTH_LEN + box_len), &v, 1) != 1)
    return -1;
  uint8_t *frame = v.iov_base;
  uint8_t *pkt = frame + LENGTH_LEN + TAG_LEN;
  pkt[0] = type;
  pkt[1] = (uint8_t)(len >> 8);
  pkt[2] = (uint8_t)len;
  if (len > 0)
    memcpy(pkt + OBFS4_PACKET_OVERHEAD, payload, len);
  memset(pkt + OBFS4_PACKET_OVERHEAD + len, 0, padlen);

  obfs4_box_seal(&enc->box, enc->counter, frame + LENGTH_LEN, pkt, pkt_len);
  uint16_t wire_len = (uint16_t)(box_len ^ next_mask(enc));
  frame[0] = (uint8_t)(wire_len >> 8);
  frame[1] = (uint8_t)wire_len;
  v.iov_len = LENGTH_LEN + box_len;
  /* Commit cannot fail for the vector reserve gave us, and counter and
   * mask are already used: failing here would desynchronise the peer. */
  evbuffer_commit_space(out, &v, 1);
  enc->counter++;
  return 0;
}

void obfs4_deframer_init(obfs4_deframer_t *d, const uint8_t keymat[OBFS4_FRAMING_KEY_LEN]) {
  obfs4_framer_init(&d->f, keymat);
  d->next_len = -1;
  d->len_invalid = false;
  d->failed = false;
}

void obfs4_deframer_clear(obfs4_deframer_t *d) {
  sodium_memzero(d, sizeof *d);
}

static obfs4_deframe_result_t deframe_fail(obfs4_deframer_t *d, const char **why,
                                           const char *what) {
  d->failed = true;
  if (why)
    *why = what;
  return OBFS4_DEFRAME_ERROR;
}

/* Reads the next masked length off in (at least 2 bytes there). */
static const char *take_length(obfs4_deframer_t *d, struct evbuffer *in) {
  uint8_t b[LENGTH_LEN];
  /* obfs4proxy derives the frame's nonce as it reads the length. */
  if (d->f.counter == 0)
    return "nonce counter wrapped";
  if (evbuffer_remove(in, b, sizeof b) != (int)sizeof b)
    return "cannot read the input buffer";
  int len = ((b[0] << 8) | b[1]) ^ next_mask(&d->f);
  if (len < MIN_BOX_LEN || len > MAX_BOX_LEN) {
    d->len_invalid = true;
    len = MIN_BOX_LEN + (int)randombytes_uniform(MAX_BOX_LEN - MIN_BOX_LEN + 1);
  }
  d->next_len = len;
  return NULL;
}

/* Hands one opened packet on, as obfs4proxy's readPackets does. */
static const char *take_packet(const uint8_t *pkt, size_t pkt_len, struct evbuffer *plain_out,
                               uint8_t *seed, bool *seed_seen) {
  if (pkt_len < OBFS4_PACKET_OVERHEAD)
    return "packet shorter than its header";
  size_t payload_len = ((size_t)pkt[1] << 8) | pkt[2];
  if (payload_len > pkt_len - OBFS4_PACKET_OVERHEAD)
    return "packet payload longer than its frame";
  const uint8_t *payload = pkt + OBFS4_PACKET_OVERHEAD;
  switch (pkt[0]) {
  case OBFS4_PACKET_PAYLOAD:
    if (payload_len > 0 && evbuffer_add(plain_out, payload, payload_len) != 0)
      return "out of memory";
    break;
  case OBFS4_PACKET_PRNG_SEED:
    if (payload_len == OBFS4_SEED_PACKET_LEN) {
      if (seed)
        memcpy(seed, payload, OBFS4_SEED_PACKET_LEN);
      if (seed_seen)
        *seed_seen = true;
    }
    break;
  default:
    break; /* unknown types are padding to us */
  }
  return NULL;
}

obfs4_deframe_result_t obfs4_deframe(obfs4_deframer_t *d, struct evbuffer *in,
                                     struct evbuffer *plain_out,
                                     uint8_t seed[OBFS4_SEED_PACKET_LEN], bool *seed_seen,
                                     const char **why) {
  if (seed_seen)
    *seed_seen = false;
  if (d->failed)
    return deframe_fail(d, why, "decoder already failed");
  /* The box, or the packet opened from it at buf + TAG_LEN. */
  uint8_t buf[MAX_BOX_LEN];
  for (;;) {
    const char *err;
    if (d->next_len < 0) {
      if (evbuffer_get_length(in) < LENGTH_LEN)
        return OBFS4_DEFRAME_OK;
      if ((err = take_length(d, in)) != NULL)
        return deframe_fail(d, why, err);
    }
    size_t box_len = (size_t)d->next_len;
    if (evbuffer_get_length(in) < box_len)
      return OBFS4_DEFRAME_OK;
    if (d->len_invalid) {
      evbuffer_drain(in, box_len);
      return deframe_fail(d, why, "frame length out of range");
    }

    const uint8_t *box = buf;
    struct evbuffer_iovec v;
    if (evbuffer_peek(in, (ev_ssize_t)box_len, NULL, &v, 1) == 1 && v.iov_len >= box_len)
      box = v.iov_base;
    else if (evbuffer_copyout(in, buf, box_len) != (ev_ssize_t)box_len)
      return deframe_fail(d, why, "cannot read the input buffer");
    /* With box == buf this opens in place: the packet lands exactly
     * TAG_LEN bytes after the box's start. */
    if (obfs4_box_open(&d->f.box, d->f.counter, buf + TAG_LEN, box, box_len - TAG_LEN) != 0)
      return deframe_fail(d, why, "frame tag mismatch");
    evbuffer_drain(in, box_len);
    d->f.counter++;
    d->next_len = -1;
    if ((err = take_packet(buf + TAG_LEN, box_len - TAG_LEN, plain_out, seed, seed_seen)))
      return deframe_fail(d, why, err);
  }
}
