/* ss_addr: the address that starts a Shadowsocks client's stream, in
 * SOCKS5's format (shadowsocks-protocol-overview.md, "Addressing"):
 *
 *   0x01 | 4-byte IPv4 | port      0x04 | 16-byte IPv6 | port
 *   0x03 | 1-byte length n | n-byte name | port
 *
 * with a 2-byte big-endian port. */
#ifndef PTD_TRANSPORTS_SHADOW_SS_ADDR_H
#define PTD_TRANSPORTS_SHADOW_SS_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include "lib/addr.h"

#define SS_ADDR_MAX (1 + 1 + 255 + 2)

/* Encodes ep (an IP literal, or a name of 1 to 255 bytes) into out;
 * returns the length, or 0 if ep cannot be encoded. */
size_t ss_addr_encode(const addr_endpoint_t *ep, uint8_t out[SS_ADDR_MAX]);

/* Parses an address at the start of p[0..n): its length; 0 if more bytes
 * are needed; -1 if it is not an address (unknown type, an empty name). */
int ss_addr_parse(const uint8_t *p, size_t n, addr_endpoint_t *ep);

#endif
