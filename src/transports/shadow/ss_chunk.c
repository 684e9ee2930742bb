/* ss_chunk: see ss_chunk.h. */
#include "transports/shadow/ss_chunk.h"

#include <string.h>

#include <event2/buffer.h>

#include "transports/shadow/ss_aead.h"

int ss_chunk_seal(ss_session_t *s, struct evbuffer *out, const uint8_t *payload, size_t len) {
  if (len == 0 || len > SS_MAX_PAYLOAD)
    return -1;
  struct evbuffer_iovec v;
  size_t total = SS_CHUNK_OVERHEAD + len;
  if (evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) != 1)
    return -1;
  uint8_t *p = v.iov_base;
  p[0] = (uint8_t)(len >> 8);
  p[1] = (uint8_t)len;
  if (ss_seal(s, p, p, 2) != 0 || ss_seal(s, p + SS_LEN_CHUNK, payload, len) != 0) {
    evbuffer_commit_space(out, &v, 0);
    return -1;
  }
  v.iov_len = total;
  evbuffer_commit_space(out, &v, 1);
  return 0;
}

int ss_chunks_seal(ss_session_t *s, struct evbuffer *plain_in, struct evbuffer *out) {
  size_t left;
  while ((left = evbuffer_get_length(plain_in)) > 0) {
    size_t len = left < SS_MAX_PAYLOAD ? left : SS_MAX_PAYLOAD;
    struct evbuffer_iovec v;
    size_t total = SS_CHUNK_OVERHEAD + len;
    if (evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) != 1)
      return -1;
    uint8_t *p = v.iov_base;
    uint8_t *payload = p + SS_LEN_CHUNK;
    /* Copied to its final place, then sealed there. */
    if (evbuffer_copyout(plain_in, payload, len) != (ev_ssize_t)len) {
      evbuffer_commit_space(out, &v, 0);
      return -1;
    }
    p[0] = (uint8_t)(len >> 8);
    p[1] = (uint8_t)len;
    if (ss_seal(s, p, p, 2) != 0 || ss_seal(s, payload, payload, len) != 0) {
      evbuffer_commit_space(out, &v, 0);
      return -1;
    }
    v.iov_len = total;
    evbuffer_commit_space(out, &v, 1);
    evbuffer_drain(plain_in, len);
  }
  return 0;
}

void ss_decoder_init(ss_decoder_t *d, const ss_session_t *s) {
  d->s = *s;
  d->next_len = -1;
  d->failed = false;
}

void ss_decoder_clear(ss_decoder_t *d) {
  ss_session_clear(&d->s);
  d->next_len = -1;
  d->failed = true;
}

static ss_decode_result_t decode_fail(ss_decoder_t *d, const char **why, const char *what) {
  d->failed = true;
  if (why)
    *why = what;
  return SS_DECODE_ERROR;
}

/* in's first n bytes, contiguous: in place if they are, else copied to
 * buf. NULL if in cannot be read. */
static const uint8_t *contiguous(struct evbuffer *in, size_t n, uint8_t *buf) {
  struct evbuffer_iovec v;
  if (evbuffer_peek(in, (ev_ssize_t)n, NULL, &v, 1) == 1 && v.iov_len >= n)
    return v.iov_base;
  return evbuffer_copyout(in, buf, n) == (ev_ssize_t)n ? buf : NULL;
}

ss_decode_result_t ss_chunks_open(ss_decoder_t *d, struct evbuffer *in,
                                  struct evbuffer *plain_out, size_t max_chunks, size_t *chunks,
                                  const char **why) {
  uint8_t buf[SS_MAX_PAYLOAD + SS_TAG_LEN];
  size_t done = 0;
  if (chunks)
    *chunks = 0;
  if (d->failed)
    return decode_fail(d, why, "stream already failed");
  for (;;) {
    if (max_chunks && done == max_chunks)
      return SS_DECODE_OK;
    if (d->next_len < 0) {
      if (evbuffer_get_length(in) < SS_LEN_CHUNK)
        return SS_DECODE_OK;
      const uint8_t *c = contiguous(in, SS_LEN_CHUNK, buf);
      uint8_t len[2];
      if (!c)
        return decode_fail(d, why, "cannot read the input buffer");
      if (ss_open(&d->s, len, c, 2) != 0)
        return decode_fail(d, why, "length tag mismatch");
      unsigned n = ((unsigned)len[0] << 8) | len[1];
      if (n > SS_MAX_PAYLOAD)
        return decode_fail(d, why, "chunk length over 0x3FFF");
      evbuffer_drain(in, SS_LEN_CHUNK);
      d->next_len = (int)n;
    }
    size_t n = (size_t)d->next_len;
    if (evbuffer_get_length(in) < n + SS_TAG_LEN)
      return SS_DECODE_OK;
    const uint8_t *c = contiguous(in, n + SS_TAG_LEN, buf);
    if (!c)
      return decode_fail(d, why, "cannot read the input buffer");
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(plain_out, (ev_ssize_t)n, &v, 1) != 1)
      return decode_fail(d, why, "out of memory");
    if (ss_open(&d->s, v.iov_base, c, n) != 0) {
      evbuffer_commit_space(plain_out, &v, 0);
      return decode_fail(d, why, "payload tag mismatch");
    }
    v.iov_len = n;
    evbuffer_commit_space(plain_out, &v, 1);
    evbuffer_drain(in, n + SS_TAG_LEN);
    d->next_len = -1;
    done++;
    if (chunks)
      *chunks = done;
  }
}
