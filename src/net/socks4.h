/* socks4: the server side of SOCKS4 and its SOCKS4a extension, as a codec
 * on evbuffers, in the style of net/socks5: peek, drain only a whole
 * message, leave a half-arrived one untouched.
 *
 * Request: VN(4) CD DSTPORT(2) DSTIP(4) USERID NUL, and for SOCKS4a, when
 * DSTIP is 0.0.0.x with x != 0, a HOST NUL after it. USERID carries PT 1
 * per-connection arguments (pt-spec 3.5); net/socks_args parses them.
 * Reply: VN(0) CD DSTPORT DSTIP. */
#ifndef PTD_NET_SOCKS4_H
#define PTD_NET_SOCKS4_H

#include <stdint.h>

#include "lib/addr.h"

struct evbuffer;

#define SOCKS4_VERSION 0x04
#define SOCKS4_USERID_MAX 255 /* bytes before its NUL */
#define SOCKS4_HOST_MAX 255   /* a SOCKS4a name, bytes before its NUL */

enum {
  SOCKS4_CMD_CONNECT = 0x01,
  SOCKS4_CMD_BIND = 0x02,
};

/* Reply codes (CD of the reply). */
enum {
  SOCKS4_REP_GRANTED = 0x5A,
  SOCKS4_REP_REJECTED = 0x5B,
};

/* Its own result type rather than socks5_result_t, so that this codec
 * stands without the SOCKS5 header; the values mean the same. */
typedef enum { SOCKS4_OK, SOCKS4_NEED_MORE, SOCKS4_ERROR } socks4_result_t;

typedef struct socks4_request {
  uint8_t cmd; /* SOCKS4_CMD_*; any other value parses, the caller rejects */
  /* An IPv4 literal (family AF_INET, as net/socks5 fills it), or for
   * SOCKS4a a name (family AF_UNSPEC, salen 0). */
  addr_endpoint_t dest;
  char userid[SOCKS4_USERID_MAX + 1]; /* NUL-terminated, may be empty */
} socks4_request_t;

/* Reads one request. SOCKS4_ERROR (buffer untouched; the caller answers
 * 0x5B and closes) for a VN other than 4 as soon as the first byte is in,
 * a USERID or HOST with no NUL within its 255 bytes (the whole request is
 * at most 8 + 256 + 256 bytes, so NEED_MORE cannot go on for ever), or an
 * empty SOCKS4a HOST. On SOCKS4_OK the request is drained and bytes after
 * it stay. */
socks4_result_t socks4_read_request(struct evbuffer *in, socks4_request_t *req);

/* VN(0) CD DSTPORT DSTIP with code SOCKS4_REP_*. Port and address are
 * zero: SOCKS4 clients read them only for BIND, which we never grant. */
void socks4_write_reply(struct evbuffer *out, uint8_t code);

#endif
