/* fuzz_socks_handshake: the client's whole SOCKS handshake (SOCKS4/4a,
 * SOCKS5 with methods 0x00, 0x02 and 0x09, argument merging with the
 * listener's own) against arbitrary application bytes.
 *
 * data[0] picks the chunk size the bytes arrive in (1..16, so every split
 * point is met across inputs); the rest is the application's stream. The
 * driver must end in at most one DIAL or CLOSE, never read past what it
 * was given, and leave a destination it can print. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "client/socks_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Takes any key but "bad", like a transport with one forbidden option. */
static int fuzz_args_check(const kvlist_t *args, char *err, size_t errlen) {
  if (args && kvlist_get(args, "bad")) {
    snprintf(err, errlen, "unexpected key \"bad\"");
    return -1;
  }
  return 0;
}

static const transport_ops_t fuzz_transport = {
    .name = "fuzz",
    .client_args_check = fuzz_args_check,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t chunk = (size_t)(data[0] % 16) + 1;
  data++;
  size--;
  kvlist_t *base = kvlist_new();
  kvlist_set(base, "k", "base");
  client_socks_t hs;
  client_socks_init(&hs, &fuzz_transport, base, 256);
  struct evbuffer *in = evbuffer_new();
  struct evbuffer *out = evbuffer_new();
  client_socks_result_t r = CSOCKS_MORE;
  for (size_t off = 0; off < size && r == CSOCKS_MORE; off += chunk) {
    size_t n = size - off < chunk ? size - off : chunk;
    evbuffer_add(in, data + off, n);
    r = client_socks_step(&hs, in, out);
  }
  if (r == CSOCKS_DIAL) {
    if (strlen(hs.dest.host) > ADDR_HOST_MAX || !hs.args || !kvlist_get(hs.args, "k"))
      __builtin_trap();
    client_socks_reply_dialed(&hs, out, NULL, data[0] & 1 ? 0 : 111);
  } else if (r == CSOCKS_CLOSE) {
    if (hs.why[0] == '\0')
      __builtin_trap();
  } else {
    client_socks_reply_timeout(&hs, out);
  }
  /* Once finished, further input is left alone. */
  if (r != CSOCKS_MORE && client_socks_step(&hs, in, out) != CSOCKS_MORE)
    __builtin_trap();
  client_socks_clear(&hs);
  kvlist_free(base);
  evbuffer_free(in);
  evbuffer_free(out);
  return 0;
}
