/* fuzz_extorport: the Extended ORPort client codec against arbitrary
 * bridge bytes, and the cookie-file parser against arbitrary files.
 *
 * Input: one flags byte, then what the bridge sends. Bit 0 of the flags
 * lets the fuzzer past the server hash, which it could never guess: when
 * the codec waits for ServerHash|ServerNonce, the harness takes only a
 * 32-byte server nonce from the input and puts the right hash in front of
 * it. The other bits choose the size of the pieces the bytes arrive in
 * (1 to 128), so every state meets messages cut everywhere.
 *
 * Checked: a waiting codec has left a cut message in the buffer; a
 * finished one stays finished, has wiped the cookie, and gives a
 * printable reason for FAILED and DENIED; what it sends is bounded. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#define EXTORPORT_PRIVATE
#include "net/extorport.h"
#include "net/extorport_cookie.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_FLAG_FIX_HASH 0x01
/* 1 + nonce + hash + USERADDR + TRANSPORT + DONE, with room to spare. */
#define FUZZ_EXTORPORT_MAX_OUT 512

static const uint8_t fuzz_cookie[EXTORPORT_COOKIE_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static int fuzz_all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i])
      return 0;
  }
  return 1;
}

static void fuzz_check_finished(const extorport_client_t *c, extorport_result_t r) {
  if (!fuzz_all_zero(c->cookie, sizeof c->cookie))
    __builtin_trap();
  if (r == EXTORPORT_FAILED || r == EXTORPORT_DENIED)
    fuzz_check_err(c->why);
}

/* Feeds the bridge's bytes and steps the codec until it finishes or the
 * input runs out. */
static void fuzz_run(const uint8_t *data, size_t size, int fix_hash, size_t piece) {
  struct evbuffer *in = evbuffer_new();
  struct evbuffer *out = evbuffer_new();
  extorport_client_t c;
  uint8_t nonce[EXTORPORT_NONCE_LEN];
  size_t off = 0;

  memset(nonce, 0x5a, sizeof nonce);
  extorport_client_init(&c, fuzz_cookie, "[2001:db8::1]:443", "plain");
  extorport_client_set_nonce(&c, nonce);
  if (!in || !out)
    goto out;
  extorport_result_t r = EXTORPORT_MORE;
  while (r == EXTORPORT_MORE && off < size) {
    if (fix_hash && c.state == EXTORPORT_SERVER_AUTH && evbuffer_get_length(in) == 0) {
      uint8_t hash[EXTORPORT_HASH_LEN];
      if (size - off < EXTORPORT_NONCE_LEN)
        break;
      extorport_server_hash(fuzz_cookie, nonce, data + off, hash);
      evbuffer_add(in, hash, sizeof hash);
      evbuffer_add(in, data + off, EXTORPORT_NONCE_LEN);
      off += EXTORPORT_NONCE_LEN;
    } else {
      size_t n = size - off < piece ? size - off : piece;
      evbuffer_add(in, data + off, n);
      off += n;
    }
    size_t before = evbuffer_get_length(in);
    extorport_state_t state_before = c.state;
    r = extorport_client_step(&c, in, out);
    /* Waiting in the same state means a cut message: nothing taken. */
    if (r == EXTORPORT_MORE && c.state == state_before && c.state != EXTORPORT_REPLY &&
        evbuffer_get_length(in) != before)
      __builtin_trap();
    if (evbuffer_get_length(out) > FUZZ_EXTORPORT_MAX_OUT)
      __builtin_trap();
  }
  if (r != EXTORPORT_MORE) {
    fuzz_check_finished(&c, r);
    size_t left = evbuffer_get_length(in);
    if (extorport_client_step(&c, in, out) != r || evbuffer_get_length(in) != left)
      __builtin_trap();
  }
out:
  extorport_client_clear(&c);
  if (in)
    evbuffer_free(in);
  if (out)
    evbuffer_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t cookie[EXTORPORT_COOKIE_LEN];
  char err[128];
  if (extorport_cookie_parse(data, size, cookie, err, sizeof err) != 0)
    fuzz_check_err(err);
  if (size == 0)
    return 0;
  size_t piece = (size_t)(data[0] >> 1) + 1;
  fuzz_run(data + 1, size - 1, data[0] & FUZZ_FLAG_FIX_HASH, piece);
  return 0;
}
