/* socks5: the server side of SOCKS5 (RFC 1928) as a codec on evbuffers.
 *
 * Each reader copies at most one message's worth of bytes out of the
 * caller's input buffer, validates the fields it has so far, and drains
 * the buffer only once the whole message is there and valid. So a
 * half-arrived message leaves the buffer as it was (SOCKS5_NEED_MORE), and
 * a malformed one (SOCKS5_ERROR) also leaves it as it was: the caller is
 * about to answer and close, and has no use for the bytes after it.
 * Fields are checked as soon as they arrive, so garbage is refused without
 * waiting for a length it claims. The one message that can be large, the
 * 0x09 JSON block, is judged by its 4 length bytes and copied out only
 * once its whole body is in, so a slow client costs no repeated copies.
 * The caller owns every buffer.
 *
 * The order of messages (greeting, then per method nothing, an RFC 1929
 * request or a JSON block, then the request) is the caller's state
 * machine; each reader here knows only its own message. */
#include "net/socks5.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "lib/evbuf.h"
#include "lib/xalloc.h"

/* Greeting: VER NMETHODS METHODS[NMETHODS]. */
#define SOCKS5_GREETING_HDR_LEN 2
#define SOCKS5_GREETING_MAX_LEN (SOCKS5_GREETING_HDR_LEN + 255)

/* Request: VER CMD RSV ATYP, then the address, then a 2-byte port. */
#define SOCKS5_REQ_OFF_VER 0
#define SOCKS5_REQ_OFF_CMD 1
#define SOCKS5_REQ_OFF_RSV 2
#define SOCKS5_REQ_OFF_ATYP 3
#define SOCKS5_REQ_HDR_LEN 4
#define SOCKS5_IPV4_LEN 4
#define SOCKS5_IPV6_LEN 16
#define SOCKS5_DOMAIN_LEN_LEN 1 /* the length octet before a domain */
#define SOCKS5_DOMAIN_MAX_LEN 255
#define SOCKS5_PORT_LEN 2
#define SOCKS5_REQ_MAX_LEN                                                     \
  (SOCKS5_REQ_HDR_LEN + SOCKS5_DOMAIN_LEN_LEN + SOCKS5_DOMAIN_MAX_LEN +        \
   SOCKS5_PORT_LEN)

/* RFC 1929 request: VER ULEN UNAME PLEN PASSWD. */
#define SOCKS5_USERPASS_OFF_VER 0
#define SOCKS5_USERPASS_OFF_ULEN 1
#define SOCKS5_USERPASS_HDR_LEN 2
#define SOCKS5_USERPASS_PLEN_LEN 1
#define SOCKS5_USERPASS_MAX_LEN                                                \
  (SOCKS5_USERPASS_HDR_LEN + SOCKS5_USERPASS_FIELD_MAX +                       \
   SOCKS5_USERPASS_PLEN_LEN + SOCKS5_USERPASS_FIELD_MAX)

/* JSON parameter block: a 4-byte big-endian length, then the body. */
#define SOCKS5_JSON_LEN_LEN 4

/* Reply: VER REP RSV ATYP BND.ADDR BND.PORT, with at most an IPv6 address. */
#define SOCKS5_REPLY_MAX_LEN (SOCKS5_REQ_HDR_LEN + SOCKS5_IPV6_LEN + SOCKS5_PORT_LEN)

/* Removes a fully parsed message of len bytes. Returns 0 or -1. */
static int socks5_consume(struct evbuffer *in, size_t len) {
  return evbuffer_drain(in, len) == 0 ? 0 : -1;
}

socks5_result_t socks5_read_greeting(struct evbuffer *in, socks5_greeting_t *out) {
  uint8_t buf[SOCKS5_GREETING_MAX_LEN];
  size_t have;
  if (evbuf_peek(in, buf, sizeof buf, &have) != 0)
    return SOCKS5_ERROR;
  /* Refuse a wrong version on its first byte: it is not SOCKS5 at all. */
  if (have >= 1 && buf[0] != SOCKS5_VERSION)
    return SOCKS5_ERROR;
  if (have < SOCKS5_GREETING_HDR_LEN)
    return SOCKS5_NEED_MORE;
  size_t n = buf[1];
  if (n == 0)
    return SOCKS5_ERROR;
  size_t total = SOCKS5_GREETING_HDR_LEN + n;
  if (have < total)
    return SOCKS5_NEED_MORE;
  memcpy(out->methods, buf + SOCKS5_GREETING_HDR_LEN, n);
  out->n_methods = n;
  return socks5_consume(in, total) == 0 ? SOCKS5_OK : SOCKS5_ERROR;
}

int socks5_greeting_offers(const socks5_greeting_t *g, uint8_t method) {
  for (size_t i = 0; i < g->n_methods; i++) {
    if (g->methods[i] == method)
      return 1;
  }
  return 0;
}

uint8_t socks5_choose_method(const socks5_greeting_t *g) {
  static const uint8_t preferred[] = {SOCKS5_METHOD_JSON, SOCKS5_METHOD_USERPASS,
                                      SOCKS5_METHOD_NO_AUTH};
  for (size_t i = 0; i < sizeof preferred; i++) {
    if (socks5_greeting_offers(g, preferred[i]))
      return preferred[i];
  }
  return SOCKS5_METHOD_NONE_ACCEPTABLE;
}

void socks5_write_method(struct evbuffer *out, uint8_t method) {
  const uint8_t msg[2] = {SOCKS5_VERSION, method};
  evbuffer_add(out, msg, sizeof msg);
}

/* Reads the request into a stack copy that holds the credentials (PT
 * arguments, which may be secrets), so every return path wipes it. */
socks5_result_t socks5_read_userpass(struct evbuffer *in, socks5_userpass_t *out) {
  uint8_t buf[SOCKS5_USERPASS_MAX_LEN];
  size_t have;
  socks5_result_t r = SOCKS5_ERROR;
  if (evbuf_peek(in, buf, sizeof buf, &have) != 0)
    goto done;
  if (have > SOCKS5_USERPASS_OFF_VER && buf[SOCKS5_USERPASS_OFF_VER] != SOCKS5_USERPASS_VERSION)
    goto done;
  r = SOCKS5_NEED_MORE;
  if (have < SOCKS5_USERPASS_HDR_LEN)
    goto done;
  size_t ulen = buf[SOCKS5_USERPASS_OFF_ULEN];
  size_t plen_off = SOCKS5_USERPASS_HDR_LEN + ulen;
  if (have <= plen_off)
    goto done;
  size_t plen = buf[plen_off];
  size_t total = plen_off + SOCKS5_USERPASS_PLEN_LEN + plen;
  if (have < total)
    goto done;
  memcpy(out->uname, buf + SOCKS5_USERPASS_HDR_LEN, ulen);
  out->ulen = ulen;
  memcpy(out->passwd, buf + plen_off + SOCKS5_USERPASS_PLEN_LEN, plen);
  out->plen = plen;
  r = socks5_consume(in, total) == 0 ? SOCKS5_OK : SOCKS5_ERROR;
done:
  sodium_memzero(buf, sizeof buf);
  return r;
}

void socks5_write_userpass_status(struct evbuffer *out, uint8_t status) {
  const uint8_t msg[2] = {SOCKS5_USERPASS_VERSION, status};
  evbuffer_add(out, msg, sizeof msg);
}

socks5_result_t socks5_read_json_block(struct evbuffer *in, size_t limit, char **json,
                                       size_t *len, uint8_t *reply) {
  uint8_t hdr[SOCKS5_JSON_LEN_LEN];
  *reply = SOCKS5_REP_GENERAL_FAILURE;
  size_t have;
  if (evbuf_peek(in, hdr, sizeof hdr, &have) != 0)
    return SOCKS5_ERROR;
  if (have < sizeof hdr)
    return SOCKS5_NEED_MORE;
  uint32_t n = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
               ((uint32_t)hdr[2] << 8) | (uint32_t)hdr[3];
  if (n > limit) {
    *reply = SOCKS5_REP_SETTINGS_TOO_LARGE;
    return SOCKS5_ERROR;
  }
  /* Written as a subtraction: on a 32-bit size_t, 4 + n could wrap. */
  if (evbuffer_get_length(in) - sizeof hdr < n)
    return SOCKS5_NEED_MORE;
  char *body = xmalloc((size_t)n + 1);
  if (socks5_consume(in, sizeof hdr) != 0 ||
      evbuffer_copyout(in, body, n) != (ev_ssize_t)n || socks5_consume(in, n) != 0) {
    free(body);
    return SOCKS5_ERROR;
  }
  body[n] = '\0';
  *json = body;
  *len = n;
  *reply = SOCKS5_REP_SUCCEEDED;
  return SOCKS5_OK;
}

static uint16_t socks5_get_port(const uint8_t *p) {
  return (uint16_t)((p[0] << 8) | p[1]);
}

/* Length of the address field (including a domain's length octet) for
 * atyp, given the bytes so far. Returns 0 when more bytes are needed to
 * know it, -1 for an atyp we do not speak. */
static int socks5_addr_field_len(uint8_t atyp, const uint8_t *buf, size_t have,
                                 size_t *len) {
  switch (atyp) {
  case SOCKS5_ATYP_IPV4:
    *len = SOCKS5_IPV4_LEN;
    return 0;
  case SOCKS5_ATYP_IPV6:
    *len = SOCKS5_IPV6_LEN;
    return 0;
  case SOCKS5_ATYP_DOMAIN:
    if (have <= SOCKS5_REQ_HDR_LEN) {
      *len = 0;
      return 0;
    }
    *len = SOCKS5_DOMAIN_LEN_LEN + (size_t)buf[SOCKS5_REQ_HDR_LEN];
    return 0;
  default:
    return -1;
  }
}

void socks5_endpoint_from_ip(addr_endpoint_t *dest, int family, const uint8_t *addr,
                             uint16_t port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    memcpy(&sin->sin_addr, addr, SOCKS5_IPV4_LEN);
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    memcpy(&sin6->sin6_addr, addr, SOCKS5_IPV6_LEN);
  }
  addr_endpoint_from_sockaddr(dest, (const struct sockaddr *)&ss);
}

/* Fills dest from a domain name of len bytes. Returns -1 if the name is
 * empty or carries a NUL, which would silently shorten it as C text. */
static int socks5_fill_domain(addr_endpoint_t *dest, const uint8_t *name, size_t len) {
  if (len == 0 || memchr(name, '\0', len) != NULL)
    return -1;
  memcpy(dest->host, name, len);
  dest->host[len] = '\0';
  dest->family = AF_UNSPEC;
  return 0;
}

/* Decodes a complete, header-checked request of buf into req. Returns -1
 * (with *reply set) for a domain we refuse. */
static int socks5_decode_request(const uint8_t *buf, size_t addr_len,
                                 socks5_request_t *req, uint8_t *reply) {
  const uint8_t *addr = buf + SOCKS5_REQ_HDR_LEN;
  uint16_t port = socks5_get_port(addr + addr_len);
  memset(req, 0, sizeof *req);
  req->cmd = buf[SOCKS5_REQ_OFF_CMD];
  req->atyp = buf[SOCKS5_REQ_OFF_ATYP];
  req->dest.port = port;
  switch (req->atyp) {
  case SOCKS5_ATYP_IPV4:
    socks5_endpoint_from_ip(&req->dest, AF_INET, addr, port);
    return 0;
  case SOCKS5_ATYP_IPV6:
    socks5_endpoint_from_ip(&req->dest, AF_INET6, addr, port);
    return 0;
  default:
    if (socks5_fill_domain(&req->dest, addr + SOCKS5_DOMAIN_LEN_LEN,
                           addr_len - SOCKS5_DOMAIN_LEN_LEN) != 0) {
      *reply = SOCKS5_REP_GENERAL_FAILURE;
      return -1;
    }
    return 0;
  }
}

/* Checks the fixed header fields present in the first have bytes.
 * Returns -1 with *reply set on the first bad one. */
static int socks5_check_request_header(const uint8_t *buf, size_t have,
                                       uint8_t *reply) {
  if (have > SOCKS5_REQ_OFF_VER && buf[SOCKS5_REQ_OFF_VER] != SOCKS5_VERSION) {
    *reply = SOCKS5_REP_GENERAL_FAILURE;
    return -1;
  }
  if (have > SOCKS5_REQ_OFF_RSV && buf[SOCKS5_REQ_OFF_RSV] != 0) {
    *reply = SOCKS5_REP_GENERAL_FAILURE;
    return -1;
  }
  return 0;
}

socks5_result_t socks5_read_request(struct evbuffer *in, socks5_request_t *req,
                                    uint8_t *reply) {
  uint8_t buf[SOCKS5_REQ_MAX_LEN];
  *reply = SOCKS5_REP_GENERAL_FAILURE;
  size_t have;
  if (evbuf_peek(in, buf, sizeof buf, &have) != 0)
    return SOCKS5_ERROR;
  if (socks5_check_request_header(buf, have, reply) != 0)
    return SOCKS5_ERROR;
  if (have < SOCKS5_REQ_HDR_LEN)
    return SOCKS5_NEED_MORE;
  size_t addr_len;
  if (socks5_addr_field_len(buf[SOCKS5_REQ_OFF_ATYP], buf, have, &addr_len) != 0) {
    *reply = SOCKS5_REP_ATYP_NOT_SUPPORTED;
    return SOCKS5_ERROR;
  }
  if (addr_len == 0)
    return SOCKS5_NEED_MORE;
  /* A zero-length domain is refused now rather than after its port. */
  if (buf[SOCKS5_REQ_OFF_ATYP] == SOCKS5_ATYP_DOMAIN && addr_len == SOCKS5_DOMAIN_LEN_LEN) {
    *reply = SOCKS5_REP_GENERAL_FAILURE;
    return SOCKS5_ERROR;
  }
  size_t total = SOCKS5_REQ_HDR_LEN + addr_len + SOCKS5_PORT_LEN;
  if (have < total)
    return SOCKS5_NEED_MORE;
  if (socks5_decode_request(buf, addr_len, req, reply) != 0)
    return SOCKS5_ERROR;
  if (socks5_consume(in, total) != 0) {
    *reply = SOCKS5_REP_GENERAL_FAILURE;
    return SOCKS5_ERROR;
  }
  *reply = SOCKS5_REP_SUCCEEDED;
  return SOCKS5_OK;
}

/* Appends ATYP BND.ADDR BND.PORT for bound to p; returns bytes written.
 * Anything but IPv4/IPv6 (or NULL) becomes 0.0.0.0:0, the RFC's "unknown". */
static size_t socks5_encode_bound(uint8_t *p, const struct sockaddr *bound) {
  size_t n = 0;
  const uint8_t *addr;
  size_t addr_len;
  uint16_t port_be;
  static const uint8_t any4[SOCKS5_IPV4_LEN] = {0};
  if (bound != NULL && bound->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)bound;
    p[n++] = SOCKS5_ATYP_IPV6;
    addr = sin6->sin6_addr.s6_addr;
    addr_len = SOCKS5_IPV6_LEN;
    port_be = sin6->sin6_port;
  } else if (bound != NULL && bound->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)bound;
    p[n++] = SOCKS5_ATYP_IPV4;
    addr = (const uint8_t *)&sin->sin_addr;
    addr_len = SOCKS5_IPV4_LEN;
    port_be = sin->sin_port;
  } else {
    p[n++] = SOCKS5_ATYP_IPV4;
    addr = any4;
    addr_len = SOCKS5_IPV4_LEN;
    port_be = 0;
  }
  memcpy(p + n, addr, addr_len);
  n += addr_len;
  /* Already in network order: copy the bytes as they lie. */
  memcpy(p + n, &port_be, SOCKS5_PORT_LEN);
  return n + SOCKS5_PORT_LEN;
}

void socks5_write_reply(struct evbuffer *out, uint8_t rep, const struct sockaddr *bound) {
  uint8_t msg[SOCKS5_REPLY_MAX_LEN];
  size_t n = 0;
  msg[n++] = SOCKS5_VERSION;
  msg[n++] = rep;
  msg[n++] = 0; /* RSV */
  n += socks5_encode_bound(msg + n, bound);
  evbuffer_add(out, msg, n);
}

uint8_t socks5_reply_for_errno(int err) {
  switch (err) {
  case ECONNREFUSED:
  case ECONNRESET:
    return SOCKS5_REP_CONN_REFUSED;
  case ENETUNREACH:
  case ENETDOWN:
    return SOCKS5_REP_NET_UNREACHABLE;
  case EHOSTUNREACH:
  case EHOSTDOWN:
  case ENOENT: /* what callers pass when a name does not resolve */
    return SOCKS5_REP_HOST_UNREACHABLE;
  case ETIMEDOUT:
    return SOCKS5_REP_TTL_EXPIRED; /* the usual mapping for a timed-out dial */
  case EACCES:
  case EPERM:
    return SOCKS5_REP_NOT_ALLOWED;
  case EAFNOSUPPORT:
    return SOCKS5_REP_ATYP_NOT_SUPPORTED;
  default:
    return SOCKS5_REP_GENERAL_FAILURE;
  }
}
