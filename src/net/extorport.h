/* extorport: the client side of Tor's Extended ORPort (ext-orport-spec),
 * which a server transport speaks to its bridge, as a codec on evbuffers.
 *
 * No sockets here. extorport_client_step() reads what the ExtORPort sent
 * from in, writes our answers to out, and says whether to wait for more,
 * relay, or close. It peeks and drains only whole messages, so bytes may
 * arrive cut anywhere. The states, each waiting for one server message:
 *
 *   AUTH_TYPES   the list of auth types up to its 0 octet; it must offer
 *                SAFE_COOKIE (1). We send 1 and our 32-byte nonce.
 *   SERVER_AUTH  ServerHash and ServerNonce; the hash is checked in
 *                constant time. We send ClientHash.
 *   STATUS       one octet, 1 for success. We send USERADDR (if we have
 *                an address), TRANSPORT and DONE.
 *   REPLY        commands until OKAY (ready: whatever follows it in in is
 *                ORPort data and is left there) or DENY (close). CONTROL
 *                and unknown commands are skipped, as the spec says.
 *
 * The cookie is wiped from the state as soon as the hashes are done, and
 * everything else secret with extorport_client_clear(). The caller owns
 * both buffers. */
#ifndef PTD_NET_EXTORPORT_H
#define PTD_NET_EXTORPORT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/addr.h"
#include "net/extorport_cookie.h"

struct evbuffer;

#define EXTORPORT_NONCE_LEN 32
#define EXTORPORT_HASH_LEN 32

/* Auth types (s2); 0 ends the server's list, and from a client means
 * "none of these". */
enum {
  EXTORPORT_AUTH_END = 0,
  EXTORPORT_AUTH_SAFE_COOKIE = 1,
};

/* SAFE_COOKIE status octet (s2.1.3). */
enum { EXTORPORT_STATUS_OK = 1 };

/* Command codes (s3.1): transport to bridge, then bridge to transport. */
enum {
  EXTORPORT_CMD_DONE = 0x0000,
  EXTORPORT_CMD_USERADDR = 0x0001,
  EXTORPORT_CMD_TRANSPORT = 0x0002,
  EXTORPORT_CMD_OKAY = 0x1000,
  EXTORPORT_CMD_DENY = 0x1001,
  EXTORPORT_CMD_CONTROL = 0x1002,
};

/* COMMAND [2] BODYLEN [2], big-endian. */
#define EXTORPORT_CMD_HDR_LEN 4
#define EXTORPORT_BODY_MAX 0xFFFF

typedef enum {
  EXTORPORT_AUTH_TYPES,
  EXTORPORT_SERVER_AUTH,
  EXTORPORT_STATUS,
  EXTORPORT_REPLY,
  EXTORPORT_FINISHED,
} extorport_state_t;

typedef enum {
  EXTORPORT_MORE,   /* wait for more input (out may hold bytes to send) */
  EXTORPORT_READY,  /* OKAY: relay; in holds any ORPort bytes after it */
  EXTORPORT_DENIED, /* DENY: close the client's connection */
  EXTORPORT_FAILED, /* protocol or authentication failure: close */
} extorport_result_t;

typedef struct extorport_client {
  extorport_state_t state;
  extorport_result_t result; /* repeated by every step once finished */
  uint8_t cookie[EXTORPORT_COOKIE_LEN];
  uint8_t client_nonce[EXTORPORT_NONCE_LEN];
  char useraddr[ADDR_TEXT_MAX]; /* empty: USERADDR is not sent */
  const char *transport;        /* borrowed; outlives the handshake */
  unsigned skipped;             /* commands ignored while waiting for OKAY */
  char why[128];                /* on FAILED or DENIED, for a log line */
} extorport_client_t;

/* useraddr is the client's "1.2.3.4:5" or "[::1]:5" (addr_format()), or
 * NULL when there is none to report; transport is the transport's name.
 * Draws the client nonce from libsodium. */
void extorport_client_init(extorport_client_t *c, const uint8_t cookie[static EXTORPORT_COOKIE_LEN],
                           const char *useraddr, const char *transport);
/* Wipes the secrets. Accepts NULL. */
void extorport_client_clear(extorport_client_t *c);

extorport_result_t extorport_client_step(extorport_client_t *c, struct evbuffer *in,
                                         struct evbuffer *out);

/* HMAC-SHA256(cookie, label | ClientNonce | ServerNonce) with the spec's
 * two labels: what the bridge proves (server) and what we prove (client). */
void extorport_server_hash(const uint8_t cookie[static EXTORPORT_COOKIE_LEN],
                           const uint8_t client_nonce[static EXTORPORT_NONCE_LEN],
                           const uint8_t server_nonce[static EXTORPORT_NONCE_LEN],
                           uint8_t out[static EXTORPORT_HASH_LEN]);
void extorport_client_hash(const uint8_t cookie[static EXTORPORT_COOKIE_LEN],
                           const uint8_t client_nonce[static EXTORPORT_NONCE_LEN],
                           const uint8_t server_nonce[static EXTORPORT_NONCE_LEN],
                           uint8_t out[static EXTORPORT_HASH_LEN]);

/* Appends COMMAND BODYLEN BODY; len must be at most EXTORPORT_BODY_MAX. */
void extorport_write_command(struct evbuffer *out, uint16_t cmd, const void *body, size_t len);

#ifdef EXTORPORT_PRIVATE
/* For tests with fixed vectors: replaces the random nonce. Call before
 * the first step. */
void extorport_client_set_nonce(extorport_client_t *c,
                                const uint8_t nonce[static EXTORPORT_NONCE_LEN]);
#endif

#endif
