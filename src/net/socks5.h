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
/* The method we answer a greeting with: 0x09 (JSON parameter block) if
 * offered, else 0x02 (username/password, which carries PT 1 arguments),
 * else 0x00, else 0xFF (none acceptable). Arguments win over no
 * authentication because a client that can send them means to. */
uint8_t socks5_choose_method(const socks5_greeting_t *g);
/* VER METHOD */
void socks5_write_method(struct evbuffer *out, uint8_t method);

/* RFC 1929 sub-negotiation version and status bytes. */
#define SOCKS5_USERPASS_VERSION 0x01
#define SOCKS5_USERPASS_FIELD_MAX 255
enum {
  SOCKS5_USERPASS_SUCCESS = 0x00,
  SOCKS5_USERPASS_FAILURE = 0x01,
};

/* The two fields of an RFC 1929 request, as bytes (not C text: pt-spec 3.5
 * puts a lone NUL in PASSWD, and a client may send any byte). */
typedef struct socks5_userpass {
  uint8_t uname[SOCKS5_USERPASS_FIELD_MAX];
  size_t ulen;
  uint8_t passwd[SOCKS5_USERPASS_FIELD_MAX];
  size_t plen;
} socks5_userpass_t;

/* VER(0x01) ULEN UNAME PLEN PASSWD. SOCKS5_ERROR when VER != 1, as soon as
 * that byte is in. ULEN and PLEN may be 0, although RFC 1929 says 1..255:
 * the framing is unambiguous, curl sends PLEN 0 for "user:" with an empty
 * password, and pt-spec 3.5 leaves the meaning of the fields to the
 * argument parser (net/socks_args), which takes empty fields as no
 * arguments. The message is at most 513 bytes, so NEED_MORE is bounded. */
socks5_result_t socks5_read_userpass(struct evbuffer *in, socks5_userpass_t *out);
/* VER(0x01) STATUS: SOCKS5_USERPASS_SUCCESS, or any other byte as failure
 * (RFC 1929: the client must then close). */
void socks5_write_userpass_status(struct evbuffer *out, uint8_t status);

/* The JSON parameter block of method 0x09 (PT 2.1 s1.4): a 4-byte
 * big-endian length, then that many bytes, with no version byte and no
 * acknowledgement. A length over limit is SOCKS5_ERROR with *reply 0x10,
 * decided as soon as the 4 length bytes are in, without waiting for (or
 * buffering) the body. On SOCKS5_OK, *json is the body as new text with a
 * NUL appended (the caller frees it; the body itself may hold NUL bytes,
 * which *len counts) and *reply is 0x00.
 *
 * A length of 0 is framed like any other and gives SOCKS5_OK with "": the
 * spec sends no block at all (method 0x00) when there are no settings, so
 * an empty block is not "no settings" but a block that is not JSON, and
 * socks_args_from_json answers it with 0x12. Keeping that decision out of
 * the codec lets one place judge every block's content. */
socks5_result_t socks5_read_json_block(struct evbuffer *in, size_t limit, char **json,
                                       size_t *len, uint8_t *reply);

/* VER CMD RSV ATYP DST.ADDR DST.PORT. On SOCKS5_ERROR *reply holds the code
 * to answer with (bad version or RSV: general failure; unknown ATYP:
 * 0x08; an empty or NUL-bearing domain: general failure). Commands other
 * than CONNECT parse fine; the caller decides (and answers 0x07). */
socks5_result_t socks5_read_request(struct evbuffer *in, socks5_request_t *req,
                                    uint8_t *reply);
/* VER REP RSV ATYP BND.ADDR BND.PORT; bound may be NULL (0.0.0.0:0). */
void socks5_write_reply(struct evbuffer *out, uint8_t rep, const struct sockaddr *bound);

/* Maps a connect() errno to the reply code a client should see, the way
 * other SOCKS servers (tor, dante) do: refused or reset 0x05, network
 * unreachable 0x03, host unreachable (or a name that did not resolve,
 * ENOENT) 0x04, timed out 0x06, not permitted 0x02, an address family we
 * cannot reach 0x08, anything else 0x01. */
uint8_t socks5_reply_for_errno(int err);

/* Sets all of dest from an IPv4 (family AF_INET, 4 bytes at addr) or
 * IPv6 (AF_INET6, 16 bytes) address and a port: sa/salen, the literal's
 * text in host, family and port. Shared with the SOCKS4 codec, which
 * decodes the same binary addresses. */
void socks5_endpoint_from_ip(addr_endpoint_t *dest, int family, const uint8_t *addr,
                             uint16_t port);

#endif
