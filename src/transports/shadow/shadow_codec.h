/* shadow_codec: one Shadowsocks-AEAD connection as a codec (transport.h).
 *
 * Each direction starts with its sender's random salt, then chunks
 * (ss_chunk.h). The client's first plaintext is the address header
 * (ss_addr.h): it goes in one chunk with the application's first bytes
 * when those come within SHADOW_HEADER_WAIT_MS of the connection, so the
 * first segment does not have the fixed size a lone header gives it, and
 * alone after that (a server-speaks-first protocol must not wait).
 *
 * The server answers nothing before the client has proved it knows the
 * key: the first length tag must open and the salt must be new. Anything
 * else before the address header is whole gets CODEC_DISCARD (read and
 * drop, close later: no answer, no early close). The server's own salts
 * go into the replay filter too, so its replies reflected back at it are
 * refused. Once the header is whole the codec calls ready() and the
 * bytes after the header flow to the server's target. */
#ifndef PTD_TRANSPORTS_SHADOW_SHADOW_CODEC_H
#define PTD_TRANSPORTS_SHADOW_SHADOW_CODEC_H

#include "lib/replay.h"
#include "transports/shadow/ss_addr.h"
#include "transports/shadow/ss_aead.h"
#include "transports/transport.h"

#define SHADOW_HEADER_WAIT_MS 50

typedef struct {
  const ss_cipher_t *cipher;
  uint8_t master[SS_KEY_MAX];
  uint8_t header[SS_ADDR_MAX]; /* the address the client names */
  size_t header_len;
} shadow_client_cfg_t;

/* What every connection of one server listener shares. */
typedef struct {
  const ss_cipher_t *cipher;
  uint8_t master[SS_KEY_MAX];
  replay_filter_t *replay; /* salts seen and sent */
} shadow_server_ctx_t;

/* Both copy what they need from cfg / keep srv (which must outlive the
 * codec). NULL when out of memory. */
codec_t *shadow_client_codec_new(const shadow_client_cfg_t *cfg);
codec_t *shadow_server_codec_new(shadow_server_ctx_t *srv);

#endif
