/* fuzz_addr: addr_parse_endpoint, addr_parse_ip and addr_parse_port on
 * arbitrary text, under every flag combination. A parsed IP literal must
 * format and parse back to the same socket address (abort() otherwise, so
 * the fuzzer reports it). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "lib/addr.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_same_sa(const addr_endpoint_t *a, const addr_endpoint_t *b) {
  if (a->family != b->family || a->port != b->port || a->salen != b->salen)
    return false;
  if (a->family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *)&a->sa;
    const struct sockaddr_in *y = (const struct sockaddr_in *)&b->sa;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->sa;
  const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->sa;
  return x->sin6_port == y->sin6_port &&
         memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

static void fuzz_endpoint(const char *text, unsigned flags) {
  addr_endpoint_t ep;
  char err[128];
  if (addr_parse_endpoint(text, flags, &ep, err, sizeof err) != 0) {
    if (strlen(err) == 0)
      abort();
    return;
  }
  if (strlen(ep.host) == 0 || strlen(ep.host) > ADDR_HOST_MAX)
    abort();
  if (ep.port == 0 && !(flags & ADDR_ALLOW_PORT0))
    abort();
  if (ep.family == AF_UNSPEC) {
    if (!(flags & ADDR_ALLOW_NAME) || ep.salen != 0)
      abort();
    return;
  }
  char formatted[ADDR_TEXT_MAX];
  addr_format((const struct sockaddr *)&ep.sa, formatted);
  addr_endpoint_t again;
  if (addr_parse_endpoint(formatted, flags, &again, err, sizeof err) != 0 ||
      !fuzz_same_sa(&ep, &again))
    abort();
  (void)addr_is_loopback((const struct sockaddr *)&ep.sa);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_cstring(data, size);
  if (!text)
    return 0;
  for (unsigned flags = 0; flags < 4; flags++)
    fuzz_endpoint(text, flags);
  struct sockaddr_storage ss;
  socklen_t len;
  if (addr_parse_ip(text, &ss, &len) == 0) {
    char formatted[ADDR_TEXT_MAX];
    addr_format((const struct sockaddr *)&ss, formatted);
  }
  uint16_t port;
  (void)addr_parse_port(text, true, &port);
  free(text);
  return 0;
}
