/* shadow: Shadowsocks AEAD (SIP004) as a transport, wire-compatible with
 * shadowsocks-libev's ss-local and ss-server. The pieces: ss_aead.c (the
 * ciphers and keys), ss_chunk.c (the stream's chunks), ss_addr.c (the
 * address header) and shadow_codec.c (one connection). This file joins
 * them to transport.h.
 *
 * Arguments, with the reference dispatcher's keys: password and
 * cipherName, for the client per connection and for the server in its
 * options; the client's optional target ("host:port") is the address its
 * header names, for a stock ss-server, which connects wherever the header
 * says. Without one the header names 0.0.0.0:0, which our server ignores
 * (it forwards to its ORPort) and a stock ss-server refuses.
 *
 * The server's openProxy=true makes it behave like ss-server: each client
 * is dialed to the address its header names, public addresses only
 * unless openProxyAllowPrivate=true too. Off by default: a PT server
 * forwards to its ORPort, and an open proxy is a decision. */
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/kvlist.h"
#include "lib/replay.h"
#include "transports/shadow/shadow_codec.h"
#include "transports/shadow/ss_addr.h"
#include "transports/shadow/ss_aead.h"
#include "transports/transport.h"
#include "transports/transport_args.h"

#define KEY_PASSWORD "password"
#define KEY_CIPHER "cipherName"
#define KEY_TARGET "target"
#define KEY_OPEN_PROXY "openProxy"
#define KEY_ALLOW_PRIVATE "openProxyAllowPrivate"

/* A failed handshake is held open up to this much past the handshake
 * timeout, as obfs4 does it. */
#define SHADOW_MAX_CLOSE_DELAY_S 60
#define SHADOW_CLOSE_DELAY_LABEL "ptdispatch shadow close delay"
/* Salts remembered (about 32 bytes each, allocated as used): a salt never
 * expires, so only this bound ages one out. */
#define SHADOW_REPLAY_MAX_ENTRIES (256 * 1024)

struct transport_server {
  shadow_server_ctx_t ctx;
  unsigned close_delay_s;
  bool open_proxy;    /* dial where each client's header says */
  bool allow_private; /* ... even loopback and private addresses */
};

/* password and cipherName, shared by both roles; the master key to
 * *master (wiped on failure). */
static int parse_keys(const kvlist_t *args, const ss_cipher_t **cipher, uint8_t *master,
                      char *err, size_t errlen) {
  const char *password = kvlist_get(args, KEY_PASSWORD);
  const char *name = kvlist_get(args, KEY_CIPHER);
  if (!password)
    return transport_arg_error("missing", KEY_PASSWORD, "", err, errlen);
  if (!*password)
    return transport_arg_error("empty", KEY_PASSWORD, "", err, errlen);
  if (!name)
    return transport_arg_error("missing", KEY_CIPHER, "", err, errlen);
  *cipher = ss_cipher_find(name);
  if (!*cipher) {
    /* The value is not repeated: swapped with the password, it would be
     * the password. */
    char detail[128];
    snprintf(detail, sizeof detail, ": not a known cipher (%s)", ss_cipher_names());
    return transport_arg_error("bad", KEY_CIPHER, detail, err, errlen);
  }
  if (ss_master_key(*cipher, password, master) != 0) {
    snprintf(err, errlen, "cannot derive the key (no MD5 in this OpenSSL)");
    return -1;
  }
  return 0;
}

static int parse_client(const kvlist_t *args, shadow_client_cfg_t *cfg, char *err,
                        size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  if (parse_keys(args, &cfg->cipher, cfg->master, err, errlen) != 0)
    return -1;
  const char *target = kvlist_get(args, KEY_TARGET);
  addr_endpoint_t ep;
  char why[128] = "";
  if (target) {
    if (addr_parse_endpoint(target, ADDR_ALLOW_NAME, &ep, why, sizeof why) != 0) {
      char detail[160];
      snprintf(detail, sizeof detail, ": %s (want host:port)", why);
      sodium_memzero(cfg, sizeof *cfg);
      return transport_arg_error("bad", KEY_TARGET, detail, err, errlen);
    }
  } else {
    struct sockaddr_in none = {.sin_family = AF_INET}; /* 0.0.0.0:0 */
    addr_endpoint_from_sockaddr(&ep, (const struct sockaddr *)&none);
  }
  cfg->header_len = ss_addr_encode(&ep, cfg->header);
  if (cfg->header_len == 0) {
    sodium_memzero(cfg, sizeof *cfg);
    return transport_arg_error("bad", KEY_TARGET, ": the name is too long", err, errlen);
  }
  return 0;
}

static int shadow_args_check(const kvlist_t *args, char *err, size_t errlen) {
  shadow_client_cfg_t cfg;
  int rc = parse_client(args, &cfg, err, errlen);
  sodium_memzero(&cfg, sizeof cfg);
  return rc;
}

static codec_t *shadow_client_new(const kvlist_t *args, char *err, size_t errlen) {
  shadow_client_cfg_t cfg;
  if (parse_client(args, &cfg, err, errlen) != 0)
    return NULL;
  codec_t *c = shadow_client_codec_new(&cfg);
  sodium_memzero(&cfg, sizeof cfg);
  if (!c)
    snprintf(err, errlen, "out of memory");
  return c;
}

/* The delay is the server's own, fixed by its key as obfs4 fixes it by
 * its seed: the same across restarts, so restarting a server shows a
 * prober nothing new, and tests can compute it:
 * HMAC-SHA256(master key, label), first 4 bytes big-endian, mod 60. */
static unsigned close_delay_for(const shadow_server_ctx_t *ctx) {
  uint8_t mac[32];
  size_t n = 0;
  if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, ctx->master, ctx->cipher->key_len,
                 (const uint8_t *)SHADOW_CLOSE_DELAY_LABEL, strlen(SHADOW_CLOSE_DELAY_LABEL), mac,
                 sizeof mac, &n) ||
      n != sizeof mac) {
    ERR_clear_error();
    return randombytes_uniform(SHADOW_MAX_CLOSE_DELAY_S);
  }
  uint32_t v = ((uint32_t)mac[0] << 24) | ((uint32_t)mac[1] << 16) | ((uint32_t)mac[2] << 8) | mac[3];
  return v % SHADOW_MAX_CLOSE_DELAY_S;
}

/* An optional true/false option (absent: false). */
static int parse_flag(const kvlist_t *options, const char *key, bool *out, char *err,
                      size_t errlen) {
  const char *v = kvlist_get(options, key);
  *out = false;
  if (!v || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
    return 0;
  if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
    *out = true;
    return 0;
  }
  return transport_arg_error("bad", key, ": must be true or false", err, errlen);
}

static void shadow_server_free(transport_server_t *srv) {
  if (!srv)
    return;
  replay_filter_free(srv->ctx.replay);
  sodium_memzero(srv, sizeof *srv);
  free(srv);
}

static transport_server_t *shadow_server_new(const kvlist_t *options, const char *state_dir,
                                             const kvlist_t **args_out, char *err,
                                             size_t errlen) {
  (void)state_dir;
  *args_out = NULL; /* a client needs the password, which is no ARGS: line's business */
  transport_server_t *srv = calloc(1, sizeof *srv);
  if (!srv) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (parse_keys(options, &srv->ctx.cipher, srv->ctx.master, err, errlen) != 0 ||
      parse_flag(options, KEY_OPEN_PROXY, &srv->open_proxy, err, errlen) != 0 ||
      parse_flag(options, KEY_ALLOW_PRIVATE, &srv->allow_private, err, errlen) != 0) {
    shadow_server_free(srv);
    return NULL;
  }
  if (srv->allow_private && !srv->open_proxy) {
    transport_arg_error("useless", KEY_ALLOW_PRIVATE, " without openProxy=true", err, errlen);
    shadow_server_free(srv);
    return NULL;
  }
  srv->ctx.replay = replay_filter_new(SHADOW_REPLAY_MAX_ENTRIES, REPLAY_TTL_FOREVER);
  srv->close_delay_s = close_delay_for(&srv->ctx);
  return srv;
}

static codec_t *shadow_server_codec(transport_server_t *srv) {
  return shadow_server_codec_new(&srv->ctx);
}

static unsigned shadow_close_delay(const transport_server_t *srv) { return srv->close_delay_s; }

static bool shadow_open_proxy(const transport_server_t *srv, bool *allow_private) {
  *allow_private = srv->allow_private;
  return srv->open_proxy;
}

const transport_ops_t shadow_transport = {
    .name = "shadow",
    .client_args_check = shadow_args_check,
    .client_codec_new = shadow_client_new,
    .server_new = shadow_server_new,
    .server_codec_new = shadow_server_codec,
    .server_free = shadow_server_free,
    .server_close_delay_s = shadow_close_delay,
    .server_open_proxy = shadow_open_proxy,
};
