/* sockio: reading a socket straight into an evbuffer in large calls.
 *
 * libevent 2.1's evbuffer_read() takes at most 4096 bytes a call
 * (EVBUFFER_MAX_READ), so a bulk transfer costs an epoll_wait, an ioctl,
 * an epoll_ctl and a readv per 4 KiB. Callers that have just been told a
 * socket is readable use sockio_read_more() to take what else is there in
 * a few big readv() calls. It stops at EAGAIN, at EOF or an error (left
 * for the socket's next read event to report), or at max bytes.
 *
 * sockio_read() is the same for callers that watch the socket themselves
 * and so need to hear why it stopped. */
#ifndef PTD_LIB_SOCKIO_H
#define PTD_LIB_SOCKIO_H

#include <stddef.h>

/* The most libevent 2.1's evbuffer_read(), and so a socket bufferevent's
 * read callback, takes in one call, whatever bufferevent_set_max_single_read
 * says. A read of this size probably left more in the socket. */
#define SOCKIO_LIBEVENT_READ_CAP 4096

struct evbuffer;

/* Why sockio_read() stopped. */
typedef enum sockio_end {
  SOCKIO_DRAINED, /* nothing more for now (EAGAIN, or a short read) */
  SOCKIO_LIMIT,   /* max bytes were read */
  SOCKIO_EOF,     /* the peer will send no more */
  SOCKIO_ERROR,   /* errno says which (also when out of memory: ENOMEM) */
} sockio_end_t;

/* Returns the number of bytes appended to buf (0 if none). */
size_t sockio_read_more(struct evbuffer *buf, int fd, size_t max);

/* As sockio_read_more(), and says in *end why it stopped; errno is set
 * when *end is SOCKIO_ERROR. Bytes read before an EOF or error are
 * appended and counted. */
size_t sockio_read(struct evbuffer *buf, int fd, size_t max, sockio_end_t *end);

#endif
