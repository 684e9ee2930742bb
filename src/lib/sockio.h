/* sockio: reading a socket straight into an evbuffer in large calls.
 *
 * libevent 2.1's evbuffer_read() takes at most 4096 bytes a call
 * (EVBUFFER_MAX_READ), so a bulk transfer costs an epoll_wait, an ioctl,
 * an epoll_ctl and a readv per 4 KiB. Callers that have just been told a
 * socket is readable use sockio_read_more() to take what else is there in
 * a few big readv() calls. It stops at EAGAIN, at EOF or an error (left
 * for the socket's next read event to report), or at max bytes. */
#ifndef PTD_LIB_SOCKIO_H
#define PTD_LIB_SOCKIO_H

#include <stddef.h>

struct evbuffer;

/* Returns the number of bytes appended to buf (0 if none). */
size_t sockio_read_more(struct evbuffer *buf, int fd, size_t max);

#endif
