/* addr: parsing and formatting of "address:port" text.
 *
 * Parsing is strict on purpose: these strings come from the parent's
 * environment and from flags, and a lenient parser (inet_aton's "1.2.3",
 * octal "010.0.0.1", a bare "::1:80") would quietly listen on or dial an
 * address nobody meant. IP literals go through inet_pton only; host names
 * are checked label by label, and the port is at most five decimal digits.
 * Error texts never repeat the input: the caller quotes it once. */
#include "lib/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define ADDR_PORT_DIGITS_MAX 5
#define ADDR_LABEL_MAX 63
/* Longest text inet_pton can accept for IPv6 ("ffff:...:255.255.255.255"). */
#define ADDR_IP6_TEXT_MAX 45

static void addr_err(char *err, size_t errlen, const char *msg) {
  if (err && errlen)
    snprintf(err, errlen, "%s", msg);
}

static bool addr_is_digit(char c) { return c >= '0' && c <= '9'; }

static bool addr_is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || addr_is_digit(c) ||
         c == '-' || c == '_';
}

typedef enum {
  ADDR_PORT_OK,
  ADDR_PORT_EMPTY,
  ADDR_PORT_BAD,   /* not all decimal digits */
  ADDR_PORT_RANGE, /* too many digits or > 65535 */
  ADDR_PORT_ZERO,  /* 0 where it is not allowed */
} addr_port_result_t;

static addr_port_result_t addr_port_scan(const char *text, bool allow_zero,
                                         uint16_t *port) {
  size_t len = strlen(text);
  if (len == 0)
    return ADDR_PORT_EMPTY;
  for (size_t i = 0; i < len; i++) {
    if (!addr_is_digit(text[i]))
      return ADDR_PORT_BAD;
  }
  if (len > ADDR_PORT_DIGITS_MAX)
    return ADDR_PORT_RANGE;
  unsigned long v = 0;
  for (size_t i = 0; i < len; i++)
    v = v * 10 + (unsigned long)(text[i] - '0');
  if (v > 65535)
    return ADDR_PORT_RANGE;
  if (v == 0 && !allow_zero)
    return ADDR_PORT_ZERO;
  *port = (uint16_t)v;
  return ADDR_PORT_OK;
}

int addr_parse_port(const char *text, bool allow_zero, uint16_t *port) {
  if (!text || !port)
    return -1;
  return addr_port_scan(text, allow_zero, port) == ADDR_PORT_OK ? 0 : -1;
}

/* Parses an IP literal that is already free of brackets. */
static int addr_parse_bare_ip(const char *text, int family,
                              struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, text, &sin->sin_addr) != 1)
      return -1;
    sin->sin_family = AF_INET;
    *len = sizeof *sin;
    return 0;
  }
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
  if (strlen(text) > ADDR_IP6_TEXT_MAX ||
      inet_pton(AF_INET6, text, &sin6->sin6_addr) != 1)
    return -1;
  sin6->sin6_family = AF_INET6;
  *len = sizeof *sin6;
  return 0;
}

int addr_parse_ip(const char *text, struct sockaddr_storage *ss, socklen_t *len) {
  if (!text || !ss || !len)
    return -1;
  size_t n = strlen(text);
  if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
    char inner[ADDR_IP6_TEXT_MAX + 1];
    if (n - 2 > ADDR_IP6_TEXT_MAX)
      return -1;
    memcpy(inner, text + 1, n - 2);
    inner[n - 2] = '\0';
    return addr_parse_bare_ip(inner, AF_INET6, ss, len);
  }
  if (strchr(text, ':'))
    return addr_parse_bare_ip(text, AF_INET6, ss, len);
  return addr_parse_bare_ip(text, AF_INET, ss, len);
}

/* A DNS name: labels of [A-Za-z0-9_-], 1..63 bytes each, an optional
 * trailing dot, at most ADDR_HOST_MAX bytes. A last label of only digits is
 * refused: getaddrinfo would read "1.2.3" or "010.1.1.1" as an inet_aton
 * address, which is exactly the lenient form we reject for literals. */
static bool addr_is_dns_name(const char *host) {
  size_t len = strlen(host);
  if (len == 0 || len > ADDR_HOST_MAX)
    return false;
  if (host[len - 1] == '.')
    len--;
  size_t label_len = 0;
  bool label_numeric = true;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || host[i] == '.') {
      if (label_len == 0 || label_len > ADDR_LABEL_MAX)
        return false;
      if (i == len && label_numeric)
        return false;
      label_len = 0;
      label_numeric = true;
      continue;
    }
    if (!addr_is_label_char(host[i]))
      return false;
    label_numeric = label_numeric && addr_is_digit(host[i]);
    label_len++;
  }
  return true;
}

/* Splits text into host and port text. Bracketed hosts must be IPv6
 * literals; *bracketed says which form was seen. */
static int addr_split(const char *text, char *host, size_t hostlen,
                      const char **port, bool *bracketed, char *err,
                      size_t errlen) {
  const char *host_start = text, *host_end;
  *bracketed = text[0] == '[';
  if (*bracketed) {
    host_start = text + 1;
    host_end = strchr(host_start, ']');
    if (!host_end) {
      addr_err(err, errlen, "missing ']'");
      return -1;
    }
    if (host_end[1] != ':') {
      addr_err(err, errlen, host_end[1] ? "expected ':' after ']'" : "missing port");
      return -1;
    }
    *port = host_end + 2;
  } else {
    host_end = strrchr(text, ':');
    if (!host_end) {
      addr_err(err, errlen, "missing port");
      return -1;
    }
    *port = host_end + 1;
  }
  size_t n = (size_t)(host_end - host_start);
  if (n == 0) {
    addr_err(err, errlen, "empty host");
    return -1;
  }
  if (n >= hostlen) {
    addr_err(err, errlen, "host too long");
    return -1;
  }
  memcpy(host, host_start, n);
  host[n] = '\0';
  return 0;
}

static int addr_parse_host(const char *host, bool bracketed, unsigned flags,
                           addr_endpoint_t *ep, char *err, size_t errlen) {
  if (bracketed) {
    if (addr_parse_bare_ip(host, AF_INET6, &ep->sa, &ep->salen) != 0) {
      addr_err(err, errlen, "not an IPv6 address");
      return -1;
    }
    ep->family = AF_INET6;
    return 0;
  }
  if (strchr(host, ':')) {
    addr_err(err, errlen, "IPv6 address must be in brackets");
    return -1;
  }
  if (addr_parse_bare_ip(host, AF_INET, &ep->sa, &ep->salen) == 0) {
    ep->family = AF_INET;
    return 0;
  }
  if (!(flags & ADDR_ALLOW_NAME)) {
    addr_err(err, errlen, "not an IP address");
    return -1;
  }
  if (!addr_is_dns_name(host)) {
    addr_err(err, errlen, "not an IP address or host name");
    return -1;
  }
  ep->family = AF_UNSPEC;
  memset(&ep->sa, 0, sizeof ep->sa);
  ep->salen = 0;
  return 0;
}

static int addr_parse_port_err(const char *text, unsigned flags, uint16_t *port,
                               char *err, size_t errlen) {
  switch (addr_port_scan(text, (flags & ADDR_ALLOW_PORT0) != 0, port)) {
  case ADDR_PORT_OK:
    return 0;
  case ADDR_PORT_EMPTY:
    addr_err(err, errlen, "missing port");
    break;
  case ADDR_PORT_BAD:
    addr_err(err, errlen, "port is not a decimal number");
    break;
  case ADDR_PORT_RANGE:
    addr_err(err, errlen, "port out of range");
    break;
  case ADDR_PORT_ZERO:
    addr_err(err, errlen, "port 0 is not allowed");
    break;
  }
  return -1;
}

static void addr_set_port(addr_endpoint_t *ep) {
  if (ep->family == AF_INET)
    ((struct sockaddr_in *)&ep->sa)->sin_port = htons(ep->port);
  else if (ep->family == AF_INET6)
    ((struct sockaddr_in6 *)&ep->sa)->sin6_port = htons(ep->port);
}

int addr_parse_endpoint(const char *text, unsigned flags, addr_endpoint_t *out,
                        char *err, size_t errlen) {
  if (!text || !*text) {
    addr_err(err, errlen, "empty address");
    return -1;
  }
  if (!out) {
    addr_err(err, errlen, "no output");
    return -1;
  }
  /* Build in a local so a failed parse leaves *out untouched. */
  addr_endpoint_t ep;
  memset(&ep, 0, sizeof ep);
  const char *port_text;
  bool bracketed;
  if (addr_split(text, ep.host, sizeof ep.host, &port_text, &bracketed, err,
                 errlen) != 0)
    return -1;
  if (addr_parse_host(ep.host, bracketed, flags, &ep, err, errlen) != 0)
    return -1;
  if (addr_parse_port_err(port_text, flags, &ep.port, err, errlen) != 0)
    return -1;
  addr_set_port(&ep);
  *out = ep;
  return 0;
}

void addr_format(const struct sockaddr *sa, char out[static ADDR_TEXT_MAX]) {
  char ip[INET6_ADDRSTRLEN];
  if (sa && sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    if (inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip)) {
      snprintf(out, ADDR_TEXT_MAX, "%s:%u", ip, (unsigned)ntohs(sin->sin_port));
      return;
    }
  } else if (sa && sa->sa_family == AF_INET6) {
    /* inet_ntop prints a mapped address as "::ffff:1.2.3.4", still IPv6. */
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    if (inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip)) {
      snprintf(out, ADDR_TEXT_MAX, "[%s]:%u", ip, (unsigned)ntohs(sin6->sin6_port));
      return;
    }
  }
  snprintf(out, ADDR_TEXT_MAX, "%s", "<unknown address>");
}

void addr_endpoint_from_sockaddr(addr_endpoint_t *ep, const struct sockaddr *sa) {
  memset(ep, 0, sizeof *ep);
  ep->family = AF_UNSPEC;
  if (sa && sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    memcpy(&ep->sa, sin, sizeof *sin);
    ep->salen = sizeof *sin;
    ep->port = ntohs(sin->sin_port);
    inet_ntop(AF_INET, &sin->sin_addr, ep->host, sizeof ep->host);
    ep->family = AF_INET;
  } else if (sa && sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    memcpy(&ep->sa, sin6, sizeof *sin6);
    ep->salen = sizeof *sin6;
    ep->port = ntohs(sin6->sin6_port);
    inet_ntop(AF_INET6, &sin6->sin6_addr, ep->host, sizeof ep->host);
    ep->family = AF_INET6;
  }
}

static bool ipv4_is_public(uint32_t a) {
  static const struct {
    uint32_t net, mask;
  } private_nets[] = {
      {0x00000000, 0xff000000}, /* 0/8 */
      {0x0a000000, 0xff000000}, /* 10/8 */
      {0x64400000, 0xffc00000}, /* 100.64/10 */
      {0x7f000000, 0xff000000}, /* 127/8 */
      {0xa9fe0000, 0xffff0000}, /* 169.254/16 */
      {0xac100000, 0xfff00000}, /* 172.16/12 */
      {0xc0000000, 0xffffff00}, /* 192.0.0/24 */
      {0xc0000200, 0xffffff00}, /* 192.0.2/24 */
      {0xc0a80000, 0xffff0000}, /* 192.168/16 */
      {0xc6120000, 0xfffe0000}, /* 198.18/15 */
      {0xc6336400, 0xffffff00}, /* 198.51.100/24 */
      {0xcb007100, 0xffffff00}, /* 203.0.113/24 */
      {0xe0000000, 0xf0000000}, /* 224/4 */
      {0xf0000000, 0xf0000000}, /* 240/4, with 255.255.255.255 */
  };
  for (size_t i = 0; i < sizeof private_nets / sizeof private_nets[0]; i++)
    if ((a & private_nets[i].mask) == private_nets[i].net)
      return false;
  return true;
}

bool addr_is_public(const struct sockaddr *sa) {
  if (!sa)
    return false;
  if (sa->sa_family == AF_INET)
    return ipv4_is_public(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
  if (sa->sa_family != AF_INET6)
    return false;
  const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
  static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
    return ipv4_is_public(((uint32_t)b[12] << 24) | ((uint32_t)b[13] << 16) |
                          ((uint32_t)b[14] << 8) | b[15]);
  static const uint8_t zero[12] = {0};
  if (memcmp(b, zero, 12) == 0) /* ::, ::1, the deprecated IPv4-compatible ::/96 */
    return false;
  if ((b[0] & 0xfe) == 0xfc)                   /* fc00::/7 */
    return false;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)   /* fe80::/10 */
    return false;
  if (b[0] == 0xff)                            /* multicast */
    return false;
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* 2001:db8::/32 */
    return false;
  return true;
}

bool addr_is_loopback(const struct sockaddr *sa) {
  if (!sa)
    return false;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a))
      return true;
    return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
  }
  return false;
}
