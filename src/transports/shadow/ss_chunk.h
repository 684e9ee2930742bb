/* ss_chunk: the AEAD TCP stream's chunks (shadowsocks-aead.md, "TCP"):
 *
 *   [AEAD(2-byte big-endian length) | tag][AEAD(payload) | tag]
 *
 * with a payload of up to 0x3FFF bytes (the length's top two bits are
 * reserved, zero) and two nonce steps per chunk. We never send an empty
 * payload; one received is accepted, as the spec does not forbid it. The salt that starts each
 * direction is the caller's business (shadow_codec.c).
 *
 * Sealing builds each chunk in place in the output evbuffer; opening
 * decrypts straight into the plaintext evbuffer. Neither allocates per
 * chunk beyond the evbuffers' own chains. */
#ifndef PTD_TRANSPORTS_SHADOW_SS_CHUNK_H
#define PTD_TRANSPORTS_SHADOW_SS_CHUNK_H

#include <stdbool.h>
#include <stddef.h>

#include "transports/shadow/ss_aead.h"

struct evbuffer;

#define SS_MAX_PAYLOAD 0x3FFF
#define SS_LEN_CHUNK (2 + SS_TAG_LEN)
#define SS_CHUNK_OVERHEAD (SS_LEN_CHUNK + SS_TAG_LEN)

/* Appends one chunk carrying payload[0..len), 1 <= len <= SS_MAX_PAYLOAD.
 * Returns 0, or -1 (out unchanged but the session unusable) on failure. */
int ss_chunk_seal(ss_session_t *s, struct evbuffer *out, const uint8_t *payload, size_t len);

/* Moves all of plain_in into chunks of at most SS_MAX_PAYLOAD bytes on
 * out. Returns 0, or -1 on failure. */
int ss_chunks_seal(ss_session_t *s, struct evbuffer *plain_in, struct evbuffer *out);

/* The receiving side: next_len is the payload length of a chunk whose
 * length part is already consumed, or -1. */
typedef struct {
  ss_session_t s;
  int next_len;
  bool failed; /* latched: every later call fails */
} ss_decoder_t;

typedef enum {
  SS_DECODE_OK,    /* every whole chunk consumed; a partial one waits */
  SS_DECODE_ERROR, /* a tag that does not match or a bad length: close */
} ss_decode_result_t;

/* Takes the session (keyed for decrypting) over. */
void ss_decoder_init(ss_decoder_t *d, const ss_session_t *s);
void ss_decoder_clear(ss_decoder_t *d);

/* Consumes whole chunks from in, at most max_chunks (0: no limit),
 * appending their payload to plain_out. On error *why (if not NULL) says
 * what was wrong, a static string that is never secret; payload of the
 * chunks before the bad one is already in plain_out. *chunks (if not
 * NULL) is set to the number of whole chunks consumed. */
ss_decode_result_t ss_chunks_open(ss_decoder_t *d, struct evbuffer *in,
                                  struct evbuffer *plain_out, size_t max_chunks, size_t *chunks,
                                  const char **why);

#endif
