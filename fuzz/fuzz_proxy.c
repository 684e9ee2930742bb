/* fuzz_proxy: ipc_proxy_parse on arbitrary text. A parsed proxy must obey
 * the header's rules (IP literal, port 1..65535, credentials 1..255 bytes,
 * none for socks4a); an error text must be printable ASCII, since it ends
 * up in a PROXY-ERROR line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "ipc/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_ok(const ipc_proxy_t *p) {
  if (p->addr.family == AF_UNSPEC || p->addr.port == 0)
    abort();
  if (p->type != UPSTREAM_SOCKS5 && p->type != UPSTREAM_SOCKS4A &&
      p->type != UPSTREAM_HTTP)
    abort();
  size_t ul = strnlen(p->user, sizeof p->user);
  size_t pl = strnlen(p->pass, sizeof p->pass);
  if (ul > UPSTREAM_CRED_MAX || pl > UPSTREAM_CRED_MAX)
    abort();
  if (p->has_auth && (ul == 0 || pl == 0 || p->type == UPSTREAM_SOCKS4A))
    abort();
  if (!p->has_auth && (ul != 0 || pl != 0))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *uri = fuzz_cstring(data, size);
  if (!uri)
    return 0;
  ipc_proxy_t p;
  char err[256] = "";
  if (ipc_proxy_parse(uri, &p, err, sizeof err) == 0)
    fuzz_check_ok(&p);
  else
    fuzz_check_err(err);
  free(uri);
  return 0;
}
