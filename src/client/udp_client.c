/* udp_client: see udp_client.h.
 *
 * The pool is a hash table of peers by source address (chained; the
 * table doubles as the pool grows) plus a list for teardown. A Waiting
 * peer holds its transport_dial and a queue of datagrams (framed with
 * udp_frame, which is also how they will travel); a Connected one its
 * udp_relay, which owns the stream and ends the peer through done(). */
#include "client/udp_client.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/transport_dial.h"
#include "lib/log.h"
#include "net/udp_frame.h"
#include "net/udp_socket.h"

/* Datagrams read per readable event, so one flood does not starve the
 * loop; and the bytes a Waiting peer may hold whatever opts.queue says. */
#define UDP_CLIENT_READ_BUDGET 256
#define UDP_CLIENT_QUEUE_BYTES (256 * 1024)
#define UDP_CLIENT_INITIAL_BUCKETS 64

typedef struct udp_peer {
  struct udp_client *client;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  uint64_t hash;
  transport_dial_t *dial; /* Waiting */
  struct evbuffer *queue; /* Waiting: framed datagrams to send once Connected */
  size_t queued;
  udp_relay_t *relay; /* Connected */
  uint64_t dropped_waiting;
  char label[ADDR_TEXT_MAX]; /* scrubbed unless unsafe logging */
  struct udp_peer *bucket_next;
  struct udp_peer *prev, *next;
} udp_peer_t;

struct udp_client {
  struct event_base *base;
  struct evdns_base *dns;
  udp_client_opts_t opts;
  kvlist_t *args;
  addr_endpoint_t target;
  int fd;
  struct event *read_ev;
  bool no_new;
  udp_peer_t **buckets;
  size_t n_buckets;
  size_t n_peers;
  udp_peer_t *peers;
  uint64_t dropped_pool_full, dropped_truncated, send_failed;
};

/* FNV-1a over the address bytes that identify a source: family, port and
 * address (not the padding of sockaddr_storage). */
static uint64_t addr_hash(const struct sockaddr *sa) {
  const uint8_t *p;
  size_t n;
  uint16_t port;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    p = (const uint8_t *)&sin->sin_addr;
    n = sizeof sin->sin_addr;
    port = sin->sin_port;
  } else {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    p = (const uint8_t *)&sin6->sin6_addr;
    n = sizeof sin6->sin6_addr;
    port = sin6->sin6_port;
  }
  uint64_t h = UINT64_C(14695981039346656037) ^ sa->sa_family;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * UINT64_C(1099511628211);
  h = (h ^ (port & 0xff)) * UINT64_C(1099511628211);
  return (h ^ (port >> 8)) * UINT64_C(1099511628211);
}

static bool addr_same(const struct sockaddr *a, const struct sockaddr *b) {
  if (a->sa_family != b->sa_family)
    return false;
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a,
                            *y = (const struct sockaddr_in6 *)b;
  return x->sin6_port == y->sin6_port &&
         memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

static udp_peer_t *peer_find(const udp_client_t *c, const struct sockaddr *sa, uint64_t h) {
  for (udp_peer_t *p = c->buckets[h & (c->n_buckets - 1)]; p; p = p->bucket_next)
    if (p->hash == h && addr_same((const struct sockaddr *)&p->addr, sa))
      return p;
  return NULL;
}

/* Doubles the table when it is as full as it has buckets; best effort. */
static void table_grow(udp_client_t *c) {
  size_t n = c->n_buckets * 2;
  udp_peer_t **b = calloc(n, sizeof *b);
  if (!b)
    return;
  for (udp_peer_t *p = c->peers; p; p = p->next) {
    size_t i = p->hash & (n - 1);
    p->bucket_next = b[i];
    b[i] = p;
  }
  free(c->buckets);
  c->buckets = b;
  c->n_buckets = n;
}

static void peer_unlink(udp_peer_t *p) {
  udp_client_t *c = p->client;
  udp_peer_t **pp = &c->buckets[p->hash & (c->n_buckets - 1)];
  while (*pp != p)
    pp = &(*pp)->bucket_next;
  *pp = p->bucket_next;
  if (p->prev)
    p->prev->next = p->next;
  else
    c->peers = p->next;
  if (p->next)
    p->next->prev = p->prev;
  c->n_peers--;
}

/* The caller has ended or handed off the dial and the relay. */
static void peer_free(udp_peer_t *p) {
  udp_client_t *c = p->client;
  peer_unlink(p);
  if (p->queue)
    evbuffer_free(p->queue);
  free(p);
  if (c->n_peers == 0 && c->opts.on_idle)
    c->opts.on_idle(c->opts.ctx);
}

static void on_relay_send(void *ctx, const uint8_t *dgram, size_t len) {
  udp_peer_t *p = ctx;
  udp_client_t *c = p->client;
  /* EAGAIN (the application is not reading) or an error: UDP drops. */
  if (sendto(c->fd, dgram, len, 0, (const struct sockaddr *)&p->addr, p->addrlen) < 0)
    c->send_failed++;
}

static void on_relay_done(void *ctx, const udp_relay_stats_t *st, const char *reason) {
  udp_peer_t *p = ctx;
  p->relay = NULL; /* it frees itself and the stream */
  log_debug("client %s: UDP connection closed (%s; %llu datagrams out, %llu in, %llu dropped)",
            p->label, reason, (unsigned long long)st->to_stream,
            (unsigned long long)st->from_stream,
            (unsigned long long)(st->dropped_full + st->dropped.invalid + st->dropped.oversize +
                                 p->dropped_waiting));
  peer_free(p);
}

static void on_transport_dialed(void *ctx, struct bufferevent *stream,
                                const struct sockaddr *local, int err) {
  udp_peer_t *p = ctx;
  udp_client_t *c = p->client;
  (void)local;
  p->dial = NULL;
  if (!stream) {
    /* transport_dial said why. */
    log_debug("client %s: dropping the %zu datagrams kept for it (%s)", p->label, p->queued,
              strerror(err));
    peer_free(p);
    return;
  }
  udp_relay_opts_t ropts = {
      .framing = c->opts.framing,
      .idle_timeout_s = c->opts.udp_timeout_s,
      .send = on_relay_send,
      .done = on_relay_done,
      .ctx = p,
  };
  p->relay = udp_relay_start(stream, &ropts);
  if (!p->relay) {
    log_error("client: out of memory starting a UDP relay");
    peer_free(p);
    return;
  }
  log_debug("client %s: UDP connection through %s", p->label, c->opts.transport->name);
  /* What came while Waiting, in order. */
  static uint8_t dgram[UDP_FRAME_MAX_DGRAM];
  size_t len;
  while (udp_frame_next(p->queue, dgram, sizeof dgram, &len) == UDP_FRAME_OK)
    udp_relay_datagram(p->relay, dgram, len);
  evbuffer_free(p->queue);
  p->queue = NULL;
}

static udp_peer_t *peer_new(udp_client_t *c, const struct sockaddr *sa, socklen_t salen,
                            uint64_t h) {
  udp_peer_t *p = calloc(1, sizeof *p);
  if (!p || !(p->queue = evbuffer_new())) {
    free(p);
    return NULL;
  }
  p->client = c;
  memcpy(&p->addr, sa, salen);
  p->addrlen = salen;
  p->hash = h;
  log_addr(sa, p->label);
  if (c->n_peers >= c->n_buckets)
    table_grow(c);
  size_t i = h & (c->n_buckets - 1);
  p->bucket_next = c->buckets[i];
  c->buckets[i] = p;
  p->next = c->peers;
  if (c->peers)
    c->peers->prev = p;
  c->peers = p;
  c->n_peers++;
  p->dial = transport_dial_start(c->base, c->dns, &c->target, c->opts.transport, c->args,
                                 &c->opts.dial, p->label, on_transport_dialed, p);
  if (!p->dial) {
    peer_free(p);
    return NULL;
  }
  log_debug("client %s: new UDP source; connecting", p->label);
  return p;
}

static void on_datagram(void *ctx, const uint8_t *dgram, size_t len, const struct sockaddr *from,
                        socklen_t fromlen) {
  udp_client_t *c = ctx;
  if (from->sa_family != AF_INET && from->sa_family != AF_INET6)
    return;
  uint64_t h = addr_hash(from);
  udp_peer_t *p = peer_find(c, from, h);
  if (!p) {
    if (c->no_new || (c->opts.max_peers && c->n_peers >= c->opts.max_peers)) {
      c->dropped_pool_full++;
      return;
    }
    p = peer_new(c, from, fromlen, h);
    if (!p) {
      log_error("client: out of memory for a new UDP source");
      return;
    }
  }
  if (p->relay) {
    udp_relay_datagram(p->relay, dgram, len);
    return;
  }
  if (p->queued >= c->opts.queue ||
      evbuffer_get_length(p->queue) + UDP_FRAME_LEN_LEN + len > UDP_CLIENT_QUEUE_BYTES ||
      udp_frame_append(p->queue, dgram, len) != 0) {
    p->dropped_waiting++;
    return;
  }
  p->queued++;
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
  udp_client_t *c = arg;
  (void)what;
  udp_socket_drain(fd, UDP_CLIENT_READ_BUDGET, on_datagram, c, &c->dropped_truncated);
}

udp_client_t *udp_client_new(struct event_base *base, struct evdns_base *dns,
                             const udp_client_opts_t *opts, struct sockaddr_storage *bound,
                             char *err, size_t errlen) {
  if (opts->transport->client_args_check(opts->args, err, errlen) != 0)
    return NULL;
  if (!opts->target) {
    snprintf(err, errlen, "the UDP modes need -target (the server's address)");
    return NULL;
  }
  udp_client_t *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  c->base = base;
  c->dns = dns;
  c->opts = *opts;
  c->target = *opts->target;
  c->opts.target = &c->target;
  c->args = opts->args ? kvlist_copy(opts->args) : NULL;
  c->n_buckets = UDP_CLIENT_INITIAL_BUCKETS;
  c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
  c->fd = -1;
  if ((opts->args && !c->args) || !c->buckets) {
    snprintf(err, errlen, "out of memory");
    udp_client_free(c);
    return NULL;
  }
  c->opts.args = c->args;
  c->fd = udp_socket_bind(opts->listen, bound, err, errlen);
  if (c->fd < 0) {
    udp_client_free(c);
    return NULL;
  }
  c->read_ev = event_new(base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
  if (!c->read_ev || event_add(c->read_ev, NULL) != 0) {
    snprintf(err, errlen, "out of memory");
    udp_client_free(c);
    return NULL;
  }
  return c;
}

void udp_client_stop_new(udp_client_t *c) {
  if (c)
    c->no_new = true;
}

size_t udp_client_open_connections(const udp_client_t *c) { return c ? c->n_peers : 0; }

void udp_client_free(udp_client_t *c) {
  if (!c)
    return;
  c->opts.on_idle = NULL; /* tearing down: nobody to tell */
  while (c->peers) {
    udp_peer_t *p = c->peers;
    transport_dial_cancel(p->dial);
    p->dial = NULL;
    if (p->relay)
      udp_relay_abort(p->relay);
    p->relay = NULL;
    peer_free(p);
  }
  if (c->read_ev)
    event_free(c->read_ev);
  if (c->fd >= 0)
    close(c->fd);
  kvlist_free(c->args);
  free(c->buckets);
  free(c);
}
