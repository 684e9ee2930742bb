/* framing: obfs4's data phase (obfs4-spec section 5).
 *
 * A frame is a 2-byte length, masked with the next DRBG block (SipHash-2-4
 * OFB), then a NaCl secretbox (XSalsa20-Poly1305: tag, then ciphertext)
 * whose nonce is a 16-byte prefix and a 64-bit big-endian counter from 1.
 * Inside the box is a packet: type (1 byte), payload length (2 bytes,
 * big-endian), payload, zero padding. Frames are at most 1448 bytes on the
 * wire. Each direction has its own 72 bytes of key material from the ntor
 * KDF: secretbox key (32) | nonce prefix (16) | DRBG seed (24). */
#ifndef PTD_TRANSPORTS_OBFS4_FRAMING_H
#define PTD_TRANSPORTS_OBFS4_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transports/obfs4/drbg.h"
#include "transports/obfs4/secretbox.h"

struct evbuffer;

#define OBFS4_MAX_SEGMENT_LEN 1448   /* largest frame on the wire */
#define OBFS4_FRAME_OVERHEAD 18      /* length + Poly1305 tag */
#define OBFS4_MAX_FRAME_PAYLOAD 1430 /* packet bytes per frame */
#define OBFS4_PACKET_OVERHEAD 3      /* type + payload length */
#define OBFS4_MAX_PACKET_PAYLOAD 1427
#define OBFS4_HEADER_LEN (OBFS4_FRAME_OVERHEAD + OBFS4_PACKET_OVERHEAD)
#define OBFS4_FRAMING_KEY_LEN 72
#define OBFS4_SEED_PACKET_LEN 24 /* a PRNG seed packet's payload */

enum {
  OBFS4_PACKET_PAYLOAD = 0,
  OBFS4_PACKET_PRNG_SEED = 1,
};

/* One direction's state; encoder and decoder are the same keys. */
typedef struct {
  obfs4_box_key_t box; /* the secretbox key and nonce prefix, ready to seal and open */
  uint64_t counter; /* next frame's nonce; starts at 1 */
  drbg_t drbg;      /* length masks */
} obfs4_framer_t;

void obfs4_framer_init(obfs4_framer_t *f, const uint8_t keymat[OBFS4_FRAMING_KEY_LEN]);
/* Wipes the keys. */
void obfs4_framer_clear(obfs4_framer_t *f);

/* Appends one frame carrying a packet: type, len payload bytes, padlen
 * zero bytes (len + padlen <= OBFS4_MAX_PACKET_PAYLOAD). The frame is
 * built and sealed in place in out's own memory. Returns 0, or -1 (out
 * unchanged) if the nonce counter is spent (2^64 - 1 frames: the session
 * must end), if len + padlen is too long, or if out cannot grow. */
int obfs4_frame_packet(obfs4_framer_t *enc, struct evbuffer *out, uint8_t type,
                       const uint8_t *payload, size_t len, size_t padlen);

/* Receiving side: the frame length, once unmasked, is kept until the
 * whole frame has arrived (the mask is consumed only once). A length out
 * of range is handled as obfs4proxy does (after Bider's countermeasure to
 * the SSH plaintext-recovery attacks): a random valid length is waited
 * for instead, and only then is the frame rejected, so the moment of the
 * close says nothing about the length's bits. */
typedef struct {
  obfs4_framer_t f;
  int next_len;     /* length of the pending frame's box, or -1 */
  bool len_invalid; /* next_len is the random stand-in for a bad length */
  bool failed;      /* an error was reported; every later call fails */
} obfs4_deframer_t;

void obfs4_deframer_init(obfs4_deframer_t *d, const uint8_t keymat[OBFS4_FRAMING_KEY_LEN]);
void obfs4_deframer_clear(obfs4_deframer_t *d);

typedef enum {
  OBFS4_DEFRAME_OK,    /* every whole frame consumed; a partial one waits */
  OBFS4_DEFRAME_ERROR, /* bad length or a box that does not open: close */
} obfs4_deframe_result_t;

/* Consumes whole frames from in. Payload packets' bytes go to plain_out;
 * the last PRNG seed packet's 24 bytes are copied to seed and *seed_seen
 * set (it is cleared on entry; both may be NULL for a server, which
 * ignores seeds). A seed packet whose payload is not 24 bytes, and any
 * other packet type, is authenticated and ignored, as obfs4proxy does.
 * Errors: a length out of range, a box that does not open, a packet
 * shorter than its 3-byte header or whose payload length exceeds the
 * frame, the nonce counter spent. Payload of the frames before the bad
 * one is already in plain_out. On error, *why (if why is not NULL) says
 * what was wrong (a static string for a debug log; never secret). */
obfs4_deframe_result_t obfs4_deframe(obfs4_deframer_t *d, struct evbuffer *in,
                                     struct evbuffer *plain_out,
                                     uint8_t seed[OBFS4_SEED_PACKET_LEN], bool *seed_seen,
                                     const char **why);

#endif
