/* udp_socket: the UDP sockets of the UDP modes: a client's listener (one
 * for all its application peers), a server's socket per transport
 * connection (connected to the target, so only the target's replies come
 * in), and reading them in batches.
 *
 * Every socket is non-blocking and close-on-exec; an IPv6 one is
 * IPv6-only (so "[::]" and "0.0.0.0" can both be bound, as listener.c
 * does for TCP); buffers are raised toward UDP_SOCKET_BUF (best effort),
 * since a burst that overflows a default receive buffer is silently lost. */
#ifndef PTD_NET_UDP_SOCKET_H
#define PTD_NET_UDP_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/addr.h"

#define UDP_SOCKET_BUF (1024 * 1024)
/* The largest datagram read: IPv6 jumbograms aside, a UDP payload is at
 * most 65,507 (IPv4) or 65,527 (IPv6) bytes. */
#define UDP_SOCKET_MAX_DGRAM 65535

/* Binds a socket to ep (an IP literal; port 0 picks one) and writes the
 * address bound. Returns the descriptor, or -1 with err. */
int udp_socket_bind(const addr_endpoint_t *ep, struct sockaddr_storage *bound, char *err,
                    size_t errlen);
/* A socket connected to dest (an IP literal; connect() on UDP only sets
 * the peer, so this does not block). Returns the descriptor, or -1 with
 * *err an errno value. */
int udp_socket_connect(const addr_endpoint_t *dest, int *err);

/* One datagram read: its bytes (valid during the call) and its sender. */
typedef void (*udp_datagram_fn)(void *ctx, const uint8_t *dgram, size_t len,
                                const struct sockaddr *from, socklen_t fromlen);

/* Reads what fd holds, at most budget datagrams (so one busy socket does
 * not starve the loop), in recvmmsg(2) batches, calling fn for each.
 * Datagrams longer than UDP_SOCKET_MAX_DGRAM (only possible with jumbo
 * frames) are dropped and counted in *truncated. Returns how many were
 * read; it stops early when the socket is empty or fails (errors other
 * than EAGAIN, such as an ICMP port unreachable reported on a connected
 * socket, are skipped: UDP has no connection to lose). */
size_t udp_socket_drain(int fd, size_t budget, udp_datagram_fn fn, void *ctx,
                        uint64_t *truncated);

#endif
