/* addr: parsing and formatting of "address:port" text.
 *
 * Accepted forms: "1.2.3.4:80", "[::1]:80", and (where a caller allows it)
 * "host.example:80". IPv6 literals must be bracketed. Ports are decimal
 * digits only, no sign, no leading '+'; range 1..65535, or 0..65535 when
 * ADDR_ALLOW_PORT0 is given (listeners: 0 means "pick an ephemeral port"). */
#ifndef PTD_LIB_ADDR_H
#define PTD_LIB_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_HOST_MAX 255 /* a DNS name's longest text form */
/* "[" + 45-char IPv6 text + "]:" + 5 digits + NUL, rounded up. */
#define ADDR_TEXT_MAX 64

enum {
  ADDR_ALLOW_NAME = 1 << 0,  /* a DNS name may stand for the address */
  ADDR_ALLOW_PORT0 = 1 << 1, /* port 0 is accepted */
};

/* A parsed endpoint. For IP literals, sa/salen hold the socket address and
 * host holds the literal without brackets; for names, family is AF_UNSPEC. */
typedef struct addr_endpoint {
  char host[ADDR_HOST_MAX + 1];
  uint16_t port;
  int family; /* AF_INET, AF_INET6, or AF_UNSPEC for a DNS name */
  struct sockaddr_storage sa;
  socklen_t salen;
} addr_endpoint_t;

/* Parses "host:port" per the flags. On error fills err with a reason that
 * does not repeat the input (callers quote it) and returns -1. */
int addr_parse_endpoint(const char *text, unsigned flags, addr_endpoint_t *out,
                        char *err, size_t errlen);
/* Parses a bare IP literal (IPv6 with or without brackets) with no port. */
int addr_parse_ip(const char *text, struct sockaddr_storage *ss, socklen_t *len);
/* Parses a decimal port; 0 only with allow_zero. */
int addr_parse_port(const char *text, bool allow_zero, uint16_t *port);
/* Formats an IPv4/IPv6 socket address as "1.2.3.4:5" or "[::1]:5". */
void addr_format(const struct sockaddr *sa, char out[static ADDR_TEXT_MAX]);
/* Fills all of ep (family, sa, salen, port, and the literal's text in
 * host) from an IPv4 or IPv6 socket address. Any other family gives a
 * zeroed ep with family AF_UNSPEC and an empty host. */
void addr_endpoint_from_sockaddr(addr_endpoint_t *ep, const struct sockaddr *sa);
bool addr_is_loopback(const struct sockaddr *sa);
/* False for addresses that name this host or a private network, not a
 * place on the Internet: unspecified, loopback, RFC 1918, shared (CGN)
 * 100.64/10, link-local, IETF-reserved 192.0.0/24, benchmarking 198.18/15,
 * documentation, multicast, 240/4 and broadcast; for IPv6 also ::/96,
 * unique local fc00::/7, and IPv4-mapped or NAT64 (64:ff9b::/96) forms of
 * any of those. An open proxy refuses such destinations unless told otherwise. */
bool addr_is_public(const struct sockaddr *sa);

#endif
