/* socks4: SOCKS4/4a requests and replies on evbuffers.
 *
 * The reader copies at most one maximal request out of the caller's
 * buffer, finds the NUL that ends USERID (and for SOCKS4a the one that
 * ends HOST) within the fixed bounds, and drains only a whole, valid
 * request. A field still missing its NUL after its bound is an error
 * there and then, not a wait for bytes that could never make the request
 * valid. The caller owns every buffer. */
#include "net/socks4.h"

#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "lib/evbuf.h"
#include "net/socks5.h"

/* Request: VN CD DSTPORT(2) DSTIP(4), then the NUL-terminated fields. */
#define SOCKS4_OFF_VN 0
#define SOCKS4_OFF_CD 1
#define SOCKS4_OFF_PORT 2
#define SOCKS4_OFF_IP 4
#define SOCKS4_IPV4_LEN 4
#define SOCKS4_HDR_LEN 8
#define SOCKS4_REQ_MAX_LEN (SOCKS4_HDR_LEN + SOCKS4_USERID_MAX + 1 + SOCKS4_HOST_MAX + 1)
#define SOCKS4_REPLY_LEN 8
#define SOCKS4_REPLY_VERSION 0x00

/* SOCKS4a marks "a name follows" with DSTIP 0.0.0.x, x != 0. */
static int socks4_is_4a(const uint8_t *ip) {
  return ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0;
}

/* Finds the NUL ending the field that starts at buf[off], looking at no
 * more than max + 1 bytes. Returns 1 with *nul its offset, 0 if more
 * bytes are needed, -1 if the bound has passed without a NUL. */
static int socks4_field_end(const uint8_t *buf, size_t have, size_t off, size_t max,
                            size_t *nul) {
  size_t avail = have > off ? have - off : 0;
  size_t look = avail < max + 1 ? avail : max + 1;
  const uint8_t *p = look ? memchr(buf + off, '\0', look) : NULL;
  if (p) {
    *nul = (size_t)(p - buf);
    return 1;
  }
  return avail > max ? -1 : 0;
}

socks4_result_t socks4_read_request(struct evbuffer *in, socks4_request_t *req) {
  uint8_t buf[SOCKS4_REQ_MAX_LEN];
  size_t have;
  if (evbuf_peek(in, buf, sizeof buf, &have) != 0)
    return SOCKS4_ERROR;
  if (have > SOCKS4_OFF_VN && buf[SOCKS4_OFF_VN] != SOCKS4_VERSION)
    return SOCKS4_ERROR;
  if (have < SOCKS4_HDR_LEN)
    return SOCKS4_NEED_MORE;
  size_t uid_nul, total;
  int r = socks4_field_end(buf, have, SOCKS4_HDR_LEN, SOCKS4_USERID_MAX, &uid_nul);
  if (r <= 0)
    return r < 0 ? SOCKS4_ERROR : SOCKS4_NEED_MORE;
  size_t host_off = uid_nul + 1, host_nul = 0;
  const int is_4a = socks4_is_4a(buf + SOCKS4_OFF_IP);
  if (is_4a) {
    r = socks4_field_end(buf, have, host_off, SOCKS4_HOST_MAX, &host_nul);
    if (r <= 0)
      return r < 0 ? SOCKS4_ERROR : SOCKS4_NEED_MORE;
    if (host_nul == host_off)
      return SOCKS4_ERROR; /* nothing to connect to */
    total = host_nul + 1;
  } else {
    total = uid_nul + 1;
  }

  memset(req, 0, sizeof *req);
  req->cmd = buf[SOCKS4_OFF_CD];
  uint16_t port = (uint16_t)((buf[SOCKS4_OFF_PORT] << 8) | buf[SOCKS4_OFF_PORT + 1]);
  req->dest.port = port;
  memcpy(req->userid, buf + SOCKS4_HDR_LEN, uid_nul - SOCKS4_HDR_LEN + 1);
  if (is_4a) {
    memcpy(req->dest.host, buf + host_off, host_nul - host_off + 1);
    req->dest.family = AF_UNSPEC;
  } else {
    socks5_endpoint_from_ip(&req->dest, AF_INET, buf + SOCKS4_OFF_IP, port);
  }
  return evbuffer_drain(in, total) == 0 ? SOCKS4_OK : SOCKS4_ERROR;
}

void socks4_write_reply(struct evbuffer *out, uint8_t code) {
  uint8_t msg[SOCKS4_REPLY_LEN] = {SOCKS4_REPLY_VERSION, code};
  evbuffer_add(out, msg, sizeof msg);
}
