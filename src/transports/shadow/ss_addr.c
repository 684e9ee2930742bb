/* ss_addr: see ss_addr.h. */
#include "transports/shadow/ss_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

enum { SS_ATYP_IPV4 = 1, SS_ATYP_NAME = 3, SS_ATYP_IPV6 = 4 };

size_t ss_addr_encode(const addr_endpoint_t *ep, uint8_t out[SS_ADDR_MAX]) {
  size_t n = 0;
  if (ep->family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ep->sa;
    out[n++] = SS_ATYP_IPV4;
    memcpy(out + n, &sin->sin_addr, 4);
    n += 4;
  } else if (ep->family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ep->sa;
    out[n++] = SS_ATYP_IPV6;
    memcpy(out + n, &sin6->sin6_addr, 16);
    n += 16;
  } else {
    size_t len = strlen(ep->host);
    if (len == 0 || len > 255)
      return 0;
    out[n++] = SS_ATYP_NAME;
    out[n++] = (uint8_t)len;
    memcpy(out + n, ep->host, len);
    n += len;
  }
  out[n++] = (uint8_t)(ep->port >> 8);
  out[n++] = (uint8_t)ep->port;
  return n;
}

int ss_addr_parse(const uint8_t *p, size_t n, addr_endpoint_t *ep) {
  memset(ep, 0, sizeof *ep);
  if (n < 1)
    return 0;
  size_t need;
  switch (p[0]) {
  case SS_ATYP_IPV4:
    need = 1 + 4 + 2;
    break;
  case SS_ATYP_IPV6:
    need = 1 + 16 + 2;
    break;
  case SS_ATYP_NAME:
    if (n < 2)
      return 0;
    if (p[1] == 0)
      return -1;
    need = 2 + (size_t)p[1] + 2;
    break;
  default:
    return -1;
  }
  if (n < need)
    return 0;
  uint16_t port = (uint16_t)((p[need - 2] << 8) | p[need - 1]);
  if (p[0] == SS_ATYP_IPV4) {
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    memcpy(&sin.sin_addr, p + 1, 4);
    addr_endpoint_from_sockaddr(ep, (const struct sockaddr *)&sin);
  } else if (p[0] == SS_ATYP_IPV6) {
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    memcpy(&sin6.sin6_addr, p + 1, 16);
    addr_endpoint_from_sockaddr(ep, (const struct sockaddr *)&sin6);
  } else {
    /* A name is taken as bytes; a NUL inside would cut it short. */
    if (memchr(p + 2, '\0', p[1]))
      return -1;
    memcpy(ep->host, p + 2, p[1]);
    ep->host[p[1]] = '\0';
    ep->family = AF_UNSPEC;
    ep->port = port;
  }
  return (int)need;
}
