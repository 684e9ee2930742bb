/* test_shadow_vectors: shadowsocks-libev's own bytes (shadow_vectors.h,
 * recorded by scripts/shadow_vectors.sh from ss-local and ss-server)
 * against ours, for each cipher and both directions:
 *
 * - decoding: the recorded stream opens under the password (EVP_BytesToKey
 *   master key, HKDF-SHA1 subkey from the recorded salt, the counting
 *   nonce) to exactly the recorded plaintext, fed whole and byte by byte;
 * - encoding: with the same salt and the same chunk boundaries, our
 *   encoder produces the recorded bytes exactly;
 * - the client direction through a server codec: the header (libev sends
 *   it alone, in its own chunk) is stripped, the payload passes, ready()
 *   comes once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <sodium.h>

#include "lib/kvlist.h"
#include "transports/shadow/ss_addr.h"
#include "transports/shadow/ss_aead.h"
#include "transports/shadow/ss_chunk.h"
#include "transports/transport.h"

#include "shadow_vectors.h"

#define N_VECTORS (sizeof shadow_vec_client / sizeof shadow_vec_client[0])
#define MAX_CHUNKS 8

static const ss_cipher_t *cipher_of(const shadow_vector_t *v) {
  const ss_cipher_t *c = ss_cipher_find(v->cipher);
  assert_non_null(c);
  assert_true(v->wire_len > c->key_len);
  return c;
}

static void session_for(const shadow_vector_t *v, bool encrypt, ss_session_t *s) {
  const ss_cipher_t *c = cipher_of(v);
  uint8_t master[SS_KEY_MAX];
  assert_int_equal(ss_master_key(c, v->password, master), 0);
  assert_int_equal(ss_session_init(s, c, master, v->wire, encrypt), 0);
}

/* Decodes v's chunks one call per chunk (or, with byte_at_a_time, one
 * wire byte per call), checks the plaintext, and returns the payload
 * length of each chunk. */
static size_t decode_vector(const shadow_vector_t *v, bool byte_at_a_time,
                            size_t lens[MAX_CHUNKS]) {
  const ss_cipher_t *c = cipher_of(v);
  ss_session_t s;
  session_for(v, false, &s);
  ss_decoder_t d;
  ss_decoder_init(&d, &s);
  struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
  size_t nchunks = 0, off = c->key_len;
  while (off < v->wire_len) {
    size_t n = byte_at_a_time ? 1 : v->wire_len - off;
    assert_int_equal(evbuffer_add(in, v->wire + off, n), 0);
    off += n;
    for (;;) {
      size_t before = evbuffer_get_length(plain), got = 0;
      const char *why = NULL;
      assert_int_equal(ss_chunks_open(&d, in, plain, 1, &got, &why), SS_DECODE_OK);
      if (got == 0)
        break;
      assert_true(nchunks < MAX_CHUNKS);
      lens[nchunks++] = evbuffer_get_length(plain) - before;
    }
  }
  assert_int_equal(evbuffer_get_length(in), 0);
  assert_int_equal(evbuffer_get_length(plain), v->plain_len);
  assert_memory_equal(evbuffer_pullup(plain, -1), v->plain, v->plain_len);
  evbuffer_free(in);
  evbuffer_free(plain);
  ss_decoder_clear(&d);
  return nchunks;
}

static void check_decode_and_encode(const shadow_vector_t *v, size_t want_chunks) {
  size_t lens[MAX_CHUNKS], lens2[MAX_CHUNKS];
  size_t n = decode_vector(v, false, lens);
  assert_int_equal(n, want_chunks);
  assert_int_equal(decode_vector(v, true, lens2), n);
  assert_memory_equal(lens, lens2, n * sizeof lens[0]);

  /* Re-encode: the salt, then the same chunks. */
  const ss_cipher_t *c = cipher_of(v);
  ss_session_t s;
  session_for(v, true, &s);
  struct evbuffer *out = evbuffer_new();
  assert_int_equal(evbuffer_add(out, v->wire, c->key_len), 0);
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(ss_chunk_seal(&s, out, v->plain + off, lens[i]), 0);
    off += lens[i];
  }
  assert_int_equal(evbuffer_get_length(out), v->wire_len);
  assert_memory_equal(evbuffer_pullup(out, -1), v->wire, v->wire_len);
  evbuffer_free(out);
  ss_session_clear(&s);
}

static void test_client_direction(void **state) {
  (void)state;
  for (size_t i = 0; i < N_VECTORS; i++) {
    const shadow_vector_t *v = &shadow_vec_client[i];
    /* libev: the address header alone, then the payload. */
    check_decode_and_encode(v, 2);
    addr_endpoint_t ep;
    assert_int_equal(ss_addr_parse(v->plain, v->plain_len, &ep), 7);
    assert_int_equal(ep.family, AF_INET);
    assert_string_equal(ep.host, "127.0.0.1");
  }
}

static void test_server_direction(void **state) {
  (void)state;
  for (size_t i = 0; i < N_VECTORS; i++)
    check_decode_and_encode(&shadow_vec_server[i], 1);
}

/* The ciphers' names as the vectors (libev) spell them, and the
 * reference dispatcher's upper case, find the same entries. */
static void test_names(void **state) {
  (void)state;
  for (size_t i = 0; i < N_VECTORS; i++) {
    const ss_cipher_t *c = cipher_of(&shadow_vec_client[i]);
    char upper[64];
    size_t n = strlen(c->name);
    assert_true(n < sizeof upper);
    for (size_t j = 0; j <= n; j++)
      upper[j] = (char)(c->name[j] >= 'a' && c->name[j] <= 'z' ? c->name[j] - 32 : c->name[j]);
    assert_ptr_equal(ss_cipher_find(upper), c);
  }
}

/* ---- through a server codec ---- */

typedef struct {
  codec_io_t io;
  int ready_calls, error_calls;
} fake_io_t;

static void fake_kick(codec_io_t *io) { (void)io; }
static void fake_ready(codec_io_t *io) { ((fake_io_t *)io)->ready_calls++; }
static void fake_error(codec_io_t *io) { ((fake_io_t *)io)->error_calls++; }

static void test_server_codec_takes_libev_request(void **state) {
  (void)state;
  const transport_ops_t *t = transport_find("shadow");
  assert_non_null(t);
  for (size_t i = 0; i < N_VECTORS; i++) {
    const shadow_vector_t *v = &shadow_vec_client[i];
    kvlist_t *opts = kvlist_new();
    assert_int_equal(kvlist_add(opts, "password", v->password), 0);
    assert_int_equal(kvlist_add(opts, "cipherName", v->cipher), 0);
    const kvlist_t *args = NULL;
    char err[256] = "";
    transport_server_t *srv = t->server_new(opts, NULL, &args, err, sizeof err);
    if (!srv)
      fail_msg("server_new: %s", err);
    codec_t *c = t->server_codec_new(srv);
    assert_non_null(c);
    struct event_base *base = event_base_new();
    fake_io_t io = {.io = {.base = base, .wire_out = evbuffer_new(), .kick = fake_kick,
                           .ready = fake_ready, .error = fake_error}};
    c->io = &io.io;
    struct evbuffer *in = evbuffer_new(), *plain = evbuffer_new();
    assert_int_equal(evbuffer_add(in, v->wire, v->wire_len), 0);
    assert_int_equal(c->ops->on_wire(c, in, plain), CODEC_OK);
    assert_int_equal(io.ready_calls, 1);
    assert_int_equal(io.error_calls, 0);
    assert_int_equal(evbuffer_get_length(plain), v->plain_len - 7);
    assert_memory_equal(evbuffer_pullup(plain, -1), v->plain + 7, v->plain_len - 7);
    /* The same request again, to a second connection: a replay. */
    codec_t *c2 = t->server_codec_new(srv);
    c2->io = &io.io;
    assert_int_equal(evbuffer_add(in, v->wire, v->wire_len), 0);
    assert_int_equal(c2->ops->on_wire(c2, in, plain), CODEC_DISCARD);
    assert_int_equal(io.ready_calls, 1);
    c2->ops->free(c2);
    c->ops->free(c);
    evbuffer_free(in);
    evbuffer_free(plain);
    evbuffer_free(io.io.wire_out);
    event_base_free(base);
    t->server_free(srv);
    kvlist_free(opts);
  }
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_client_direction),
      cmocka_unit_test(test_server_direction),
      cmocka_unit_test(test_server_codec_takes_libev_request),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
