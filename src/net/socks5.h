/* socks5: the server side of SOCKS5 (RFC 1928) as a codec on evbuffers.
 *
 * No sockets here: each socks5_read_* peeks at the input buffer and drains
 * only a whole message, so a half-arrived message leaves the buffer as it
 * was and returns SOCKS5_NEED_MORE. A malformed message returns
 * SOCKS5_ERROR and, where SOCKS has a reply for it, the reply code the
 * caller should send before closing. */
#ifndef PTD_NET_SOCKS5_H
#define PTD_NET_SOCKS5_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/addr.h"

struct evbuffer;

#define SOCKS5_VERSION 0x05

/* Method codes (RFC 1928 s3; 0x09 is IANA's "JSON Parameter Block"). */
enum {
  SOCKS5_METHOD_NO_AUTH = 0x00,
  SOCKS5_METHOD_USERPASS = 0x02,
  SOCKS5_METHOD_JSON = 0x09,
  SOCKS5_METHOD_NONE_ACCEPTABLE = 0xFF,
};

enum {
  SOCKS5_CMD_CONNECT = 0x01,
  SOCKS5_CMD_BIND = 0x02,
  SOCKS5_CMD_UDP_ASSOCIATE = 0x03,
};

enum {
  SOCKS5_ATYP_IPV4 = 0x01,
  SOCKS5_ATYP_DOMAIN = 0x03,
  SOCKS5_ATYP_IPV6 = 0x04,
};

/* Reply codes (RFC 1928 s6, and PT 2.1 s1.4 for 0x10..0x13). */
enum {
  SOCKS5_REP_SUCCEEDED = 0x00,
  SOCKS5_REP_GENERAL_FAILURE = 0x01,
  SOCKS5_REP_NOT_ALLOWED = 0x02,
  SOCKS5_REP_NET_UNREACHABLE = 0x03,
  SOCKS5_REP_HOST_UNREACHABLE = 0x04,
  SOCKS5_REP_CONN_REFUSED = 0x05,
  SOCKS5_REP_TTL_EXPIRED = 0x06,
  SOCKS5_REP_CMD_NOT_SUPPORTED = 0x07,
  SOCKS5_REP_ATYP_NOT_SUPPORTED = 0x08,
  SOCKS5_REP_SETTINGS_TOO_LARGE = 0x10,
  SOCKS5_REP_SETTINGS_TIMEOUT = 0x11,
  SOCKS5_REP_SETTINGS_PARSE = 0x12,
  SOCKS5_REP_SETTINGS_INVALID = 0x13,
};

typedef enum { SOCKS5_OK, SOCKS5_NEED_MORE, SOCKS5_ERROR } socks5_result_t;

typedef struct socks5_greeting {
  uint8_t methods[255];
  size_t n_methods;
} socks5_greeting_t;

typedef struct socks5_request {
  uint8_t cmd;
  uint8_t atyp;
  /* The destination. For IP atyps host holds the literal's text form and
   * family/sa/salen the address; for a domain, family is AF_UNSPEC. */
  addr_endpoint_t dest;
} socks5_request_t;

/* VER NMETHODS METHODS... ; SOCKS5_ERROR if VER != 5 or NMETHODS == 0. */
socks5_result_t socks5_read_greeting(struct evbuffer *in, socks5_greeting_t *out);
/* True if the greeting offers method m. */
int socks5_greeting_offers(const socks5_greeting_t *g, uint8_t method);
/* VER METHOD */
void socks5_write_method(struct evbuffer *out, uint8_t method);

/* VER CMD RSV ATYP DST.ADDR DST.PORT. On SOCKS5_ERROR *reply holds the code
 * to answer with (bad version or RSV: general failure; unknown ATYP:
 * 0x08; an empty or NUL-bearing domain: general failure). Commands other
 * than CONNECT parse fine; the caller decides (and answers 0x07). */
socks5_result_t socks5_read_request(struct evbuffer *in, socks5_request_t *req,
                                    uint8_t *reply);
/* VER REP RSV ATYP BND.ADDR BND.PORT; bound may be NULL (0.0.0.0:0). */
void socks5_write_reply(struct evbuffer *out, uint8_t rep, const struct sockaddr *bound);

/* Maps a connect() errno to the reply code a client should see. */
uint8_t socks5_reply_for_errno(int err);

#endif
