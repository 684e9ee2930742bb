/* The client's SOCKS handshake driver: method choice, the three ways
 * arguments arrive and how they merge with the listener's, the replies for
 * each failure, and input split at every byte. */
#include <errno.h>
#include <event2/buffer.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/socks_handshake.h"

/* A transport that takes any key but "bad". */
static int fake_args_check(const kvlist_t *args, char *err, size_t errlen) {
  if (args && kvlist_get(args, "bad")) {
    snprintf(err, errlen, "unexpected key \"bad\"");
    return -1;
  }
  return 0;
}

static const transport_ops_t fake_transport = {
    .name = "fake",
    .client_args_check = fake_args_check,
};

typedef struct {
  client_socks_t hs;
  struct evbuffer *in, *out;
} fixture_t;

static fixture_t *fx_new(const kvlist_t *base, size_t limit) {
  fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  client_socks_init(&f->hs, &fake_transport, base, limit);
  f->in = evbuffer_new();
  f->out = evbuffer_new();
  return f;
}

static void fx_free(fixture_t *f) {
  client_socks_clear(&f->hs);
  evbuffer_free(f->in);
  evbuffer_free(f->out);
  free(f);
}

static client_socks_result_t feed(fixture_t *f, const void *data, size_t len) {
  evbuffer_add(f->in, data, len);
  return client_socks_step(&f->hs, f->in, f->out);
}

static void expect_out(fixture_t *f, const void *want, size_t len) {
  size_t have = evbuffer_get_length(f->out);
  uint8_t buf[512];
  assert_true(have <= sizeof buf);
  evbuffer_remove(f->out, buf, have);
  assert_int_equal(have, len);
  assert_memory_equal(buf, want, len);
}

#define REQ_V4 0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x1f, 0x90
static const uint8_t reply_fail_head[] = {0x05};

static void expect_reply(fixture_t *f, const uint8_t *prefix, size_t plen, uint8_t rep) {
  uint8_t want[64];
  memcpy(want, prefix, plen);
  const uint8_t tail[] = {0x05, rep, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
  memcpy(want + plen, tail, sizeof tail);
  expect_out(f, want, plen + sizeof tail);
}

static void test_no_auth_connect(void **state) {
  (void)state;
  fixture_t *f = fx_new(NULL, 1024);
  const uint8_t msg[] = {0x05, 0x01, 0x00, REQ_V4};
  assert_int_equal(feed(f, msg, sizeof msg), CSOCKS_DIAL);
  assert_int_equal(f->hs.dest.port, 8080);
  assert_string_equal(f->hs.dest.host, "127.0.0.1");
  assert_null(f->hs.args);
  expect_out(f, "\x05\x00", 2);
  client_socks_reply_dialed(&f->hs, f->out, NULL, 0);
  expect_reply(f, reply_fail_head, 0, 0x00);
  fx_free(f);
}

/* Fed one byte at a time, every prefix is incomplete and the whole is
 * DIAL; so every split point of the exchange is covered. Fed whole, the
 * same. */
static void every_boundary(const uint8_t *msg, size_t len, const kvlist_t *base) {
  fixture_t *f = fx_new(base, 1024);
  for (size_t i = 0; i < len; i++) {
    client_socks_result_t r = feed(f, msg + i, 1);
    assert_int_equal(r, i + 1 < len ? CSOCKS_MORE : CSOCKS_DIAL);
  }
  fx_free(f);
  f = fx_new(base, 1024);
  assert_int_equal(feed(f, msg, len), CSOCKS_DIAL);
  fx_free(f);
}

static void test_byte_by_byte(void **state) {
  (void)state;
  const uint8_t s5[] = {0x05, 0x01, 0x00, REQ_V4};
  every_boundary(s5, sizeof s5, NULL);
  const uint8_t s5json[] = {0x05, 0x01, 0x09, 0, 0, 0, 9, '{', '"', 'k', '"', ':', '"', 'v',
                            '"', '}', REQ_V4};
  every_boundary(s5json, sizeof s5json, NULL);
  const uint8_t s5up[] = {0x05, 0x01, 0x02, 0x01, 3, 'k', '=', 'v', 1, 0, REQ_V4};
  every_boundary(s5up, sizeof s5up, NULL);
  const uint8_t s4a[] = {0x04, 0x01, 0x00, 0x50, 0, 0, 0, 1, 'u', '=', '1', 0,
                         'h', 'o', 's', 't', 0};
  every_boundary(s4a, sizeof s4a, NULL);
}

static void test_json_arguments_override_base(void **state) {
  (void)state;
  kvlist_t *base = kvlist_new();
  kvlist_set(base, "k", "from-options");
  kvlist_set(base, "other", "kept");
  fixture_t *f = fx_new(base, 1024);
  const char body[] = "{\"k\":\"v\",\"n\":12,\"t\":true,\"o\":{\"a\":[1,2]}}";
  uint8_t msg[128] = {0x05, 0x02, 0x00, 0x09, 0, 0, 0, (uint8_t)(sizeof body - 1)};
  memcpy(msg + 8, body, sizeof body - 1);
  const uint8_t req[] = {REQ_V4};
  memcpy(msg + 8 + sizeof body - 1, req, sizeof req);
  assert_int_equal(feed(f, msg, 8 + sizeof body - 1 + sizeof req), CSOCKS_DIAL);
  assert_non_null(f->hs.args);
  assert_string_equal(kvlist_get(f->hs.args, "k"), "v");
  assert_string_equal(kvlist_get(f->hs.args, "other"), "kept");
  assert_string_equal(kvlist_get(f->hs.args, "n"), "12");
  assert_string_equal(kvlist_get(f->hs.args, "t"), "true");
  assert_string_equal(kvlist_get(f->hs.args, "o"), "{\"a\":[1,2]}");
  /* Method answer, no acknowledgement of the block. */
  expect_out(f, "\x05\x09", 2);
  fx_free(f);
  kvlist_free(base);
}

static void test_base_args_alone(void **state) {
  (void)state;
  kvlist_t *base = kvlist_new();
  kvlist_set(base, "k", "v");
  fixture_t *f = fx_new(base, 1024);
  const uint8_t msg[] = {0x05, 0x01, 0x00, REQ_V4};
  assert_int_equal(feed(f, msg, sizeof msg), CSOCKS_DIAL);
  assert_non_null(f->hs.args);
  assert_string_equal(kvlist_get(f->hs.args, "k"), "v");
  fx_free(f);
  kvlist_free(base);
}

static void test_userpass_arguments(void **state) {
  (void)state;
  fixture_t *f = fx_new(NULL, 1024);
  /* UNAME then PASSWD, concatenated: "a=1;b=x\;y" + "z;c=2". */
  const uint8_t msg[] = {0x05, 0x01, 0x02, 0x01, 10, 'a', '=', '1', ';', 'b', '=', 'x', '\\',
                         ';', 'y', 5, 'z', ';', 'c', '=', '2', REQ_V4};
  assert_int_equal(feed(f, msg, sizeof msg), CSOCKS_DIAL);
  assert_string_equal(kvlist_get(f->hs.args, "a"), "1");
  assert_string_equal(kvlist_get(f->hs.args, "b"), "x;yz");
  assert_string_equal(kvlist_get(f->hs.args, "c"), "2");
  expect_out(f, "\x05\x02\x01\x00", 4);
  fx_free(f);
}

static void test_userpass_syntax_error(void **state) {
  (void)state;
  fixture_t *f = fx_new(NULL, 1024);
  const uint8_t msg[] = {0x05, 0x01, 0x02, 0x01, 4, 'n', 'o', 'e', 'q', 1, 0};
  assert_int_equal(feed(f, msg, sizeof msg), CSOCKS_CLOSE);
  expect_out(f, "\x05\x02\x01\x01", 4);
  assert_non_null(strstr(f->hs.why, "RFC 1929"));
  fx_free(f);
}

static void test_rejected_arguments_answer_the_request(void **state) {
  (void)state;
  fixture_t *f = fx_new(NULL, 1024);
  const uint8_t msg[] = {0x05, 0x01, 0x02, 0x01, 5, 'b', 'a', 'd', '=', '1', 1, 0};
  assert_int_equal(feed(f, msg, sizeof msg), CSOCKS_MORE);
  expect_out(f, "\x05\x02\x01\x00", 4);
  const uint8_t req[] = {REQ_V4};
  assert_int_equal(feed(f, req, sizeof req), CSOCKS_CLOSE);
  expect_reply(f, reply_fail_head, 0, 0x13);
  assert_non_null(strstr(f->hs.why, "\"bad\""));
  fx_free(f);
}

static void test_json_failures(void **state) {
  (void)state;
  fixture_t *f = fx_new(NULL, 16);
  const uint8_t big[] = {0x05, 0x01, 0x09, 0, 0, 0, 17};
  assert_int_equal(feed(f, big, sizeof big), CSOCKS_CLOSE);
  expect_reply(f, (const uint8_t *)"\x05\x09", 2, 0x10);
  fx_free(f);

  f = fx_new(NULL, 16);
  const uint8_t notobj[] = {0x05, 0x01, 0x09, 0, 0, 0, 3, '[', '1', ']'};
  assert_int_equal(feed(f, notobj, sizeof notobj), CSOCKS_CLOSE);
  expect_reply(f, (const uint8_t *)"\x05\x09", 2, 0x12);
  fx_free(f);

  f = fx_new(NULL, 16);
  const uint8_t badkey[] = {0x05, 0x01, 0x09, 0, 0, 0, 9, '{', '"', 'b', 'a', 'd', '"', ':',
                            '1', '}', REQ_V4};
  assert_int_equal(feed(f, badkey, sizeof badkey), CSOCKS_CLOSE);
  expect_reply(f, (const uint8_t *)"\x05\x09", 2, 0x13);
  fx_free(f);
}

static void test_timeout_replies(void **state) {
  (void)state;
  fixture_t *f = fx_new(NULL, 1024);
  const uint8_t part[] = {0x05, 0x01, 0x09, 0, 0, 0, 20, '{'};
  assert_int_equal(feed(f, part, sizeof part), CSOCKS_MORE);
  client_socks_reply_timeout(&f->hs, f->out);
  expect_reply(f, (const uint8_t *)"\x05\x09", 2, 0x11);
  fx_free(f);

  /* Before the method is agreed there is nothing to say. */
  f = fx_new(NULL, 1024);
  const uint8_t half[] = {0x05, 0x02, 0x00};
  assert_int_equal(feed(f, half, sizeof half), CSOCKS_MORE);
  client_socks_reply_timeout(&f->hs, f->out);
  expect_out(f, "", 0);
  fx_free(f);
}

static void test_dial_failures_map_to_replies(void **state) {
  (void)state;
  const struct {
    int err;
    uint8_t rep;
  } cases[] = {{ECONNREFUSED, 0x05}, {ECONNRESET, 0x05}, {ENETUNREACH, 0x03},
               {EHOSTUNREACH, 0x04}, {ETIMEDOUT, 0x06}, {EPROTO, 0x01}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fixture_t *f = fx_new(NULL, 1024);
    const uint8_t msg[] = {0x05, 0x01, 0x00, REQ_V4};
    assert_int_equal(feed(f, msg, sizeof msg), CSOCKS_DIAL);
    client_socks_reply_dialed(&f->hs, f->out, NULL, cases[i].err);
    expect_reply(f, (const uint8_t *)"\x05\x00", 2, cases[i].rep);
    fx_free(f);
  }
}

static void test_socks4(void **state) {
  (void)state;
  fixture_t *f = fx_new(NULL, 1024);
  const uint8_t msg[] = {0x04, 0x01, 0x1f, 0x90, 127, 0, 0, 1, 0};
  assert_int_equal(feed(f, msg, sizeof msg), CSOCKS_DIAL);
  assert_string_equal(f->hs.dest.host, "127.0.0.1");
  assert_int_equal(f->hs.dest.port, 8080);
  assert_null(f->hs.args);
  client_socks_reply_dialed(&f->hs, f->out, NULL, 0);
  const uint8_t granted[] = {0x00, 0x5A, 0, 0, 0, 0, 0, 0};
  expect_out(f, granted, sizeof granted);
  fx_free(f);

  f = fx_new(NULL, 1024);
  const uint8_t s4a[] = {0x04, 0x01, 0x00, 0x50, 0, 0, 0, 9, 'k', '=', 'v', 0,
                         'e', 'x', '.', 'o', 'r', 'g', 0};
  assert_int_equal(feed(f, s4a, sizeof s4a), CSOCKS_DIAL);
  assert_string_equal(f->hs.dest.host, "ex.org");
  assert_int_equal(f->hs.dest.family, AF_UNSPEC);
  assert_string_equal(kvlist_get(f->hs.args, "k"), "v");
  client_socks_reply_dialed(&f->hs, f->out, NULL, ECONNREFUSED);
  const uint8_t rejected[] = {0x00, 0x5B, 0, 0, 0, 0, 0, 0};
  expect_out(f, rejected, sizeof rejected);
  fx_free(f);

  f = fx_new(NULL, 1024);
  const uint8_t badargs[] = {0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 'b', 'a', 'd', '=', '1', 0};
  assert_int_equal(feed(f, badargs, sizeof badargs), CSOCKS_CLOSE);
  expect_out(f, rejected, sizeof rejected);
  fx_free(f);

  f = fx_new(NULL, 1024);
  const uint8_t bind[] = {0x04, 0x02, 0x00, 0x50, 127, 0, 0, 1, 0};
  assert_int_equal(feed(f, bind, sizeof bind), CSOCKS_CLOSE);
  expect_out(f, rejected, sizeof rejected);
  fx_free(f);
}

static void test_not_socks(void **state) {
  (void)state;
  fixture_t *f = fx_new(NULL, 1024);
  assert_int_equal(feed(f, "GET /", 5), CSOCKS_CLOSE);
  expect_out(f, "", 0);
  assert_non_null(strstr(f->hs.why, "0x47"));
  fx_free(f);
}

static void test_command_not_supported(void **state) {
  (void)state;
  fixture_t *f = fx_new(NULL, 1024);
  const uint8_t msg[] = {0x05, 0x01, 0x00, 0x05, 0x03, 0x00, 0x01, 127, 0, 0, 1, 0, 53};
  assert_int_equal(feed(f, msg, sizeof msg), CSOCKS_CLOSE);
  expect_reply(f, (const uint8_t *)"\x05\x00", 2, 0x07);
  fx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_auth_connect),
      cmocka_unit_test(test_byte_by_byte),
      cmocka_unit_test(test_json_arguments_override_base),
      cmocka_unit_test(test_base_args_alone),
      cmocka_unit_test(test_userpass_arguments),
      cmocka_unit_test(test_userpass_syntax_error),
      cmocka_unit_test(test_rejected_arguments_answer_the_request),
      cmocka_unit_test(test_json_failures),
      cmocka_unit_test(test_timeout_replies),
      cmocka_unit_test(test_dial_failures_map_to_replies),
      cmocka_unit_test(test_socks4),
      cmocka_unit_test(test_not_socks),
      cmocka_unit_test(test_command_not_supported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
