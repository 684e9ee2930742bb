/* udp_relay: one transport stream carrying framed datagrams, joined to a
 * UDP peer, for the UDP modes (PT 2.1 s1.5): datagrams from the UDP side
 * are checked and framed onto the stream (udp_frame.h or stun_frame.h);
 * whole frames from the stream are handed to the owner's send() as
 * datagrams. The relay owns the stream; the owner owns the UDP socket (a
 * client shares its listener's among all its peers, a server has one per
 * connection), so sending is the owner's.
 *
 * It ends, calling done() once (and freeing itself and the stream), when
 * the stream closes or fails, when the stream holds something that is not
 * a frame (STUN mode: a broken or hostile peer), or when no datagram has
 * gone either way for idle_timeout_s (the spec's tables: closed, failed,
 * write failure, timeout). Datagrams never wait without bound: while the
 * stream's output (with the outputs of any bufferevents under it, for a
 * codec's filter) holds more than UDP_RELAY_OUT_MAX bytes a new one is
 * dropped and counted, as a congested link would drop it.
 *
 * The stream is only used through its evbuffers and callbacks (it may be
 * a filter), so the relay sets its read high-water mark and callbacks and
 * the owner must not touch it any more. */
#ifndef PTD_NET_UDP_RELAY_H
#define PTD_NET_UDP_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/udp_frame.h"

struct bufferevent;

typedef enum {
  UDP_FRAMING_LENGTH, /* transparent-UDP: 2-byte length prefix */
  UDP_FRAMING_STUN,   /* STUN mode: STUN and ChannelData messages */
} udp_framing_t;

/* Bytes the stream's output may hold before new datagrams are dropped. */
#define UDP_RELAY_OUT_MAX (512 * 1024)

typedef struct udp_relay udp_relay_t;

typedef struct udp_relay_stats {
  /* Counts and datagram bytes (a length prefix or a ChannelData
   * padding in the stream is not counted). */
  uint64_t to_stream, to_stream_bytes;     /* datagrams framed onto the stream */
  uint64_t from_stream, from_stream_bytes; /* datagrams handed to send() */
  uint64_t dropped_full;     /* the stream's output was over UDP_RELAY_OUT_MAX (or out of memory) */
  udp_drop_counts_t dropped; /* invalid (STUN mode), oversize (either way, over 65535 bytes) */
} udp_relay_stats_t;

typedef struct udp_relay_opts {
  udp_framing_t framing;
  unsigned idle_timeout_s; /* 0: none */
  /* A datagram from the stream, for the UDP side. A send that fails is
   * the owner's to count; the relay goes on. dgram is valid only during
   * the call (it is a scratch buffer shared by all relays on the loop's
   * thread: send() must not run the event loop). send() may call
   * udp_relay_datagram() and udp_relay_abort() on this relay; after an
   * abort no more datagrams are delivered. Never called from inside
   * udp_relay_start() or udp_relay_datagram(). */
  void (*send)(void *ctx, const uint8_t *dgram, size_t len);
  /* The relay has ended (reason: a short static text, e.g. "idle
   * timeout", "closed by the peer", "stream error", "not a STUN or
   * ChannelData message"); it and the stream are freed after this
   * returns. Meanwhile udp_relay_stats() still answers,
   * udp_relay_datagram() refuses and udp_relay_abort() does nothing.
   * Never called from inside udp_relay_start() or udp_relay_datagram(). */
  void (*done)(void *ctx, const udp_relay_stats_t *stats, const char *reason);
  void *ctx;
} udp_relay_opts_t;

/* Takes stream (connected, ready for data: a transport's handshake is
 * done) and starts relaying. NULL when out of memory (stream freed). */
udp_relay_t *udp_relay_start(struct bufferevent *stream, const udp_relay_opts_t *opts);

/* A datagram from the UDP side. Returns true if it was framed onto the
 * stream, false if dropped (STUN mode: not one whole STUN or ChannelData
 * message; the output over UDP_RELAY_OUT_MAX; over 65535 bytes; the
 * relay is ending, done() pending: not counted). Only
 * a datagram that goes out (or one that comes from the stream) counts as
 * activity for the idle timeout: a peer sending junk cannot keep a
 * connection alive. */
bool udp_relay_datagram(udp_relay_t *r, const uint8_t *dgram, size_t len);

/* Ends the relay now, without calling done(); frees it and the stream.
 * Accepts NULL. */
void udp_relay_abort(udp_relay_t *r);

const udp_relay_stats_t *udp_relay_stats(const udp_relay_t *r);

#endif
