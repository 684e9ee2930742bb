/* transport.h: the whole plug-in contract between ptdispatch and a
 * transport.
 *
 * A transport is a name and a table of functions (transport_ops_t). Most
 * transports are codecs: they never touch sockets, they turn bytes into
 * bytes. A codec implements two callbacks, "wire bytes arrived" (on_wire)
 * and "plain bytes arrived" (on_plain), each returning ok / need more /
 * error; codec_stream_wrap() (codec_stream.c) runs a codec over a connected
 * wire bufferevent and hands back a plaintext bufferevent that the relay
 * uses like any other. A codec that must talk first (a client handshake)
 * implements start(). A codec that holds plaintext back until its handshake
 * is done calls io->kick() once it is, so held plaintext flows.
 *
 * A codec with a handshake of its own (ops->handshake) calls io->ready()
 * when it is done; the stream's owner waits for that before it commits
 * (the client answers SOCKS only then, the server dials the ORPort only
 * then), and closes the stream if it does not come in time. A server
 * codec that sees a peer not speaking its protocol returns CODEC_DISCARD:
 * probe resistance, as obfs4 does it. Nothing is sent, nothing is closed
 * early: the adapter reads and throws away whatever arrives, and the
 * owner closes the stream after its handshake timeout plus the
 * transport's own delay (server_close_delay_s).
 *
 * transports/plain/ is the worked example: the identity codec (flagged
 * as such, so that it costs nothing at all).
 *
 * Who owns what: a codec belongs to the stream it was wrapped into and is
 * freed with it; a server instance belongs to the server role. */
#ifndef PTD_TRANSPORTS_TRANSPORT_H
#define PTD_TRANSPORTS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/addr.h"
#include "lib/kvlist.h"

struct bufferevent;
struct event_base;
struct evbuffer;

typedef enum {
  CODEC_OK,        /* progress made (or nothing to do) */
  CODEC_NEED_MORE, /* input incomplete; call again when more arrives */
  CODEC_ERROR,     /* protocol violation: close the connection */
  CODEC_DISCARD,   /* a probe: stay silent, swallow input (see above) */
} codec_result_t;

typedef struct codec codec_t;
typedef struct codec_io codec_io_t;

/* What the stream adapter offers a codec. */
struct codec_io {
  struct event_base *base;     /* for timers */
  struct evbuffer *wire_out;   /* bytes queued here go to the peer */
  void (*kick)(codec_io_t *io); /* held plaintext may flow now */
  /* The handshake is done (codecs with ops->handshake call it once): the
   * owner sees BEV_EVENT_CONNECTED on the stream. */
  void (*ready)(codec_io_t *io);
  /* For errors found outside on_wire/on_plain (in a timer callback): as
   * if a call had returned CODEC_ERROR. */
  void (*error)(codec_io_t *io);
};

typedef struct codec_ops {
  /* Optional: called once when the stream is wrapped (client handshake). */
  codec_result_t (*start)(codec_t *c);
  /* Wire bytes arrived in wire_in: consume whole frames, append their
   * plaintext to plain_out; may also queue bytes on c->io->wire_out. */
  codec_result_t (*on_wire)(codec_t *c, struct evbuffer *wire_in, struct evbuffer *plain_out);
  /* Plaintext to send in plain_in: consume it (or leave it while a
   * handshake is pending) and append wire bytes to wire_out. */
  codec_result_t (*on_plain)(codec_t *c, struct evbuffer *plain_in, struct evbuffer *wire_out);
  void (*free)(codec_t *c);
  /* The codec changes nothing, either way, and has no start(): then
   * codec_stream_wrap() frees it and hands back the wire bufferevent
   * itself, so nothing sits between the relay and the socket (which lets
   * the relay splice socket to socket). on_wire/on_plain must still be
   * the identity, for any user of the codec that does not short-cut. */
  bool identity;
  /* The codec calls io->ready() when its handshake is done; until then
   * the stream carries no application data. */
  bool handshake;
  /* Optional: encoded bytes the codec holds back (a pacing codec releases
   * them to wire_out from timers). While nonzero the stream is not
   * flushed, and its owner must not half-close the wire; the codec must
   * keep releasing without further calls. */
  size_t (*held)(const codec_t *c);
  /* Optional, server codecs with a handshake: once ready() was called,
   * the address the client asked for (a Shadowsocks header), or NULL. A
   * server only goes there when its instance is an open proxy
   * (server_open_proxy); otherwise it dials its ORPort as always. */
  const addr_endpoint_t *(*destination)(const codec_t *c);
} codec_ops_t;

/* Embed as the first member of a transport's codec struct. */
struct codec {
  const codec_ops_t *ops;
  codec_io_t *io; /* set by the adapter before start() */
};

typedef struct transport_server transport_server_t;

typedef struct transport_ops {
  const char *name;

  /* Client: checks per-connection arguments (SOCKS 0x09 JSON, RFC 1929
   * k=v;k=v, or -options) and returns 0, or -1 with err naming the key
   * that is wrong or missing (SOCKS reply 0x13). Keys come from the
   * application: quote them with quote_text() (lib/quote.h), and never
   * repeat a value (it may be a secret). */
  int (*client_args_check)(const kvlist_t *args, char *err, size_t errlen);
  /* Client: a codec for one outgoing connection. */
  codec_t *(*client_codec_new)(const kvlist_t *args, char *err, size_t errlen);

  /* Server: one instance per listener, from the transport's options and
   * the state directory. *args_out (may stay NULL) holds what clients need,
   * reported in SMETHOD ARGS:, owned by the instance. */
  transport_server_t *(*server_new)(const kvlist_t *options, const char *state_dir,
                                    const kvlist_t **args_out, char *err, size_t errlen);
  codec_t *(*server_codec_new)(transport_server_t *srv);
  void (*server_free)(transport_server_t *srv);
  /* Optional: how long past the handshake timeout a connection whose
   * handshake failed (CODEC_DISCARD) or never finished is kept open,
   * reading and discarding, so a prober cannot time our verdict. Fixed
   * per instance (obfs4 derives it from the bridge's DRBG seed). */
  unsigned (*server_close_delay_s)(const transport_server_t *srv);
  /* Optional: true when the instance's options make it an open proxy,
   * each connection dialed where its codec's destination() says instead
   * of the ORPort. *allow_private says whether loopback and private
   * addresses may be dialed too (else only addr_is_public ones). */
  bool (*server_open_proxy)(const transport_server_t *srv, bool *allow_private);
} transport_ops_t;

/* The registry (registry.c): NULL when the name is not one of ours. */
const transport_ops_t *transport_find(const char *name);
/* For -help: the names, in registry order, NULL-terminated. */
const char *const *transport_names(void);

/* codec_stream.c: wraps a connected wire bufferevent; takes ownership of
 * both wire and codec (freed with the returned bufferevent). Calls
 * codec->ops->start if set. An identity codec is freed at once and wire
 * itself is returned. Returns NULL on allocation failure (wire and codec
 * are freed). */
struct bufferevent *codec_stream_wrap(struct bufferevent *wire, codec_t *codec);
/* The owner gave up on the codec's handshake (its deadline passed): from
 * now on the stream reads and discards, as after CODEC_DISCARD. codec is
 * the one given to codec_stream_wrap, whose stream is still open. */
void codec_stream_discard(codec_t *codec);
/* Encoded bytes the codec of stream bev still holds back (see
 * codec_ops_t.held); 0 for any bufferevent that is not a codec stream. */
size_t codec_stream_held(const struct bufferevent *bev);

#endif
