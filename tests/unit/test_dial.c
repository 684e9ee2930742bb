/* dial's choice of source address (TOR_PT_OUTBOUND_BIND_ADDRESS_V4/_V6):
 * by the destination's family, and never toward loopback. The sockets
 * themselves are exercised by the integration tests, which can only use
 * loopback; this is where the non-loopback half is shown. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/dial.h"

static struct sockaddr_storage ip(const char *text) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
  } else {
    assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
    sin6->sin6_family = AF_INET6;
  }
  return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void test_source_by_family(void **state) {
  (void)state;
  struct sockaddr_storage v4 = ip("203.0.113.4"), v6 = ip("2001:db8::4");
  struct sockaddr_storage far4 = ip("198.51.100.7"), far6 = ip("2001:db8:1::7");
  assert_ptr_equal(dial_source_for(SA(far4), SA(v4), SA(v6)), SA(v4));
  assert_ptr_equal(dial_source_for(SA(far6), SA(v4), SA(v6)), SA(v6));
  /* Only the other family configured: the system chooses. */
  assert_null(dial_source_for(SA(far4), NULL, SA(v6)));
  assert_null(dial_source_for(SA(far6), SA(v4), NULL));
  assert_null(dial_source_for(SA(far4), NULL, NULL));
}

static void test_never_toward_loopback(void **state) {
  (void)state;
  struct sockaddr_storage v4 = ip("203.0.113.4"), v6 = ip("2001:db8::4");
  const char *loop[] = {"127.0.0.1", "127.255.0.9", "::1"};
  for (size_t i = 0; i < sizeof loop / sizeof loop[0]; i++) {
    struct sockaddr_storage d = ip(loop[i]);
    assert_null(dial_source_for(SA(d), SA(v4), SA(v6)));
  }
  /* 128.0.0.1 is not loopback. */
  struct sockaddr_storage near = ip("128.0.0.1");
  assert_ptr_equal(dial_source_for(SA(near), SA(v4), SA(v6)), SA(v4));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_source_by_family),
      cmocka_unit_test(test_never_toward_loopback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
