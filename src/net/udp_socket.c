/* udp_socket: see udp_socket.h. */
#include "net/udp_socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_BATCH 16

static void raise_buffers(int fd) {
  int size = UDP_SOCKET_BUF;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

static int udp_socket_new(int family) {
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (family == AF_INET6) {
    int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  raise_buffers(fd);
  return fd;
}

int udp_socket_bind(const addr_endpoint_t *ep, struct sockaddr_storage *bound, char *err,
                    size_t errlen) {
  if (ep->family != AF_INET && ep->family != AF_INET6) {
    snprintf(err, errlen, "a UDP listener needs an IP address, not a name");
    return -1;
  }
  int fd = udp_socket_new(ep->family);
  if (fd < 0) {
    snprintf(err, errlen, "cannot create a UDP socket: %s", strerror(errno));
    return -1;
  }
  socklen_t len = sizeof *bound;
  if (bind(fd, (const struct sockaddr *)&ep->sa, ep->salen) != 0 ||
      getsockname(fd, (struct sockaddr *)bound, &len) != 0) {
    char where[ADDR_TEXT_MAX];
    addr_format((const struct sockaddr *)&ep->sa, where);
    snprintf(err, errlen, "cannot bind UDP %s: %s", where, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

int udp_socket_connect(const addr_endpoint_t *dest, int *err) {
  if (dest->family != AF_INET && dest->family != AF_INET6) {
    *err = EAFNOSUPPORT;
    return -1;
  }
  int fd = udp_socket_new(dest->family);
  if (fd < 0 || connect(fd, (const struct sockaddr *)&dest->sa, dest->salen) != 0) {
    *err = errno;
    if (fd >= 0)
      close(fd);
    return -1;
  }
  return fd;
}

/* One event-loop thread: one set of batch buffers for every socket. A
 * byte more than the largest datagram tells a truncated one apart. */
static uint8_t udp_scratch[UDP_BATCH][UDP_SOCKET_MAX_DGRAM + 1];

size_t udp_socket_drain(int fd, size_t budget, udp_datagram_fn fn, void *ctx,
                        uint64_t *truncated) {
  struct mmsghdr msgs[UDP_BATCH];
  struct iovec iov[UDP_BATCH];
  struct sockaddr_storage from[UDP_BATCH];
  size_t total = 0;
  while (total < budget) {
    unsigned want = budget - total < UDP_BATCH ? (unsigned)(budget - total) : UDP_BATCH;
    for (unsigned i = 0; i < want; i++) {
      iov[i].iov_base = udp_scratch[i];
      iov[i].iov_len = sizeof udp_scratch[i];
      memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(fd, msgs, want, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      /* ECONNREFUSED and the like: an ICMP error queued on the socket,
       * consumed by this call. The next call reads on. */
      total++;
      continue;
    }
    for (int i = 0; i < n; i++) {
      size_t len = msgs[i].msg_len;
      if (len > UDP_SOCKET_MAX_DGRAM || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
        if (truncated)
          (*truncated)++;
        continue;
      }
      fn(ctx, udp_scratch[i], len, (const struct sockaddr *)&from[i],
         msgs[i].msg_hdr.msg_namelen);
    }
    total += (size_t)n;
    if ((unsigned)n < want)
      break;
  }
  return total;
}
