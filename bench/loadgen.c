/* loadgen: the benchmark's traffic, in C, so that the measuring ends are
 * never what limits a measurement (a Python sender tops out well below
 * what loopback TCP, or a splicing relay, can move).
 *
 *   ptd_loadgen server  [--listen IP:PORT] [--threads N]
 *   ptd_loadgen stream  --to IP:PORT [SOCKS] [--streams N]
 *                       [--seconds T | --bytes B] [--no-half-close]
 *   ptd_loadgen connect --to IP:PORT [SOCKS] [--seconds T]
 *                       [--parallel P] [--size S]
 *   ptd_loadgen hold    --to IP:PORT [SOCKS] --conns N
 *   ptd_loadgen udp-echo [--listen IP:PORT]
 *   ptd_loadgen udp     --to IP:PORT [--flows F] [--size S] [--window W]
 *                       [--seconds T]
 *
 *   SOCKS = --socks IP:PORT [--socks-user U [--socks-pass P] | --socks-args A]
 *
 * server: prints "PORT n" and serves until its stdin closes. The first
 * byte a client sends picks the service for that connection: 'S' sink
 * (count bytes until EOF, answer with the count as 8 bytes big-endian,
 * close), 'F' framed sink (frames of a 4-byte big-endian length and that
 * many bytes, counted until a zero length; answer with the count as 'S'
 * does, close after the client's EOF) or 'E' echo (send everything back;
 * close after EOF once all is sent). Worker threads each run their own
 * epoll set over the one listening socket (EPOLLEXCLUSIVE: one worker
 * wakes per connection).
 *
 * The clients reach the server directly (--to) or through a SOCKS5 proxy
 * (--socks: CONNECT to --to), which is how the bench drives a PT client.
 * Without credentials the proxy is offered "no authentication" only. With
 * --socks-user (and --socks-pass, default a lone NUL byte) it is offered
 * RFC 1929 username/password only, which is how Tor hands a PT client the
 * bridge's per-connection arguments; --socks-args takes Tor's argument
 * text ("cert=...;iat-mode=0", already escaped) and splits it as Tor does:
 * the first 255 bytes are the username, the rest the password, a lone NUL
 * when nothing is left. Each client prints one "RESULT key=value ..." line
 * on stdout; any failure prints "loadgen: ..." on stderr and exits 1.
 *
 *   stream:  N connections to the sink, all connected before the clock
 *            starts; each sends for T seconds (default 2) or B bytes in
 *            total, then half-closes and waits for the sink's count,
 *            which must equal what it sent. MB/s = bytes / (first byte to
 *            last count), MB = 10^6 bytes. --no-half-close uses the framed
 *            sink instead and closes only after the count arrived: for
 *            relays that tear down both directions as soon as one ends
 *            (obfs4proxy does), where a half-close would lose the count.
 *   connect: P threads (default 8) each open a connection, send 'E' and
 *            S bytes (default 64), read the S bytes back (checked), close,
 *            and start over, for T seconds. Reports connections/s.
 *   hold:    opens N connections one after another, each proving the path
 *            end to end with a 16-byte echo, prints "HELD N", then holds
 *            them idle until its stdin closes.
 *
 *   udp-echo: a UDP echo server; prints "PORT n", echoes every datagram
 *            to its sender until its stdin closes.
 *   udp:     F threads (default 1), each with its own UDP socket (so, to
 *            a UDP mode's client, its own source address and transport
 *            connection), keep W datagrams of S bytes (defaults 32 and
 *            1400) in flight to --to for T seconds: each echo that comes
 *            back (checked) is answered with a new datagram; after 200 ms
 *            with none, the window is refilled and the missing ones count
 *            as lost. Reports echoed datagrams/s and MB/s (payload).
 *
 * Every socket operation of the clients has a 10 s timeout
 * (SO_RCVTIMEO/SO_SNDTIMEO), so nothing hangs for good. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LG_IO_TIMEOUT_S 10
#define LG_SEND_CHUNK (1024 * 1024)
#define LG_SINK_SCRATCH (1024 * 1024)
#define LG_ECHO_CHUNK (64 * 1024)
#define LG_PROBE_LEN 16
#define LG_MAX_THREADS 256
#define LG_MAX_HOLD 100000
#define LG_MODE_SINK 'S'
#define LG_MODE_FRAMED 'F'
#define LG_MODE_ECHO 'E'
#define LG_FRAME_HDR 4
#define LG_SOCKS_FIELD_MAX 255 /* RFC 1929: UNAME and PASSWD are 1..255 bytes */

/* ---- small helpers ---- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("loadgen: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "1.2.3.4:5" or "[::1]:5" (numeric only). */
static void parse_endpoint(const char *text, struct sockaddr_storage *ss, socklen_t *len) {
  char host[128];
  const char *port;
  if (text[0] == '[') {
    const char *end = strchr(text, ']');
    if (!end || end[1] != ':' || (size_t)(end - text - 1) >= sizeof host)
      die("bad address \"%s\" (want IP:PORT or [IPv6]:PORT)", text);
    memcpy(host, text + 1, (size_t)(end - text - 1));
    host[end - text - 1] = '\0';
    port = end + 2;
  } else {
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host)
      die("bad address \"%s\" (want IP:PORT or [IPv6]:PORT)", text);
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    port = colon + 1;
  }
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
  struct addrinfo *ai = NULL;
  if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
    die("bad address \"%s\"", text);
  memcpy(ss, ai->ai_addr, ai->ai_addrlen);
  *len = ai->ai_addrlen;
  freeaddrinfo(ai);
}

/* A size: plain bytes or K/M/G (binary) suffix. */
static uint64_t parse_size(const char *text, const char *what) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  uint64_t mult = 1;
  if (*end == 'K' || *end == 'k')
    mult = 1ULL << 10;
  else if (*end == 'M' || *end == 'm')
    mult = 1ULL << 20;
  else if (*end == 'G' || *end == 'g')
    mult = 1ULL << 30;
  if (mult != 1)
    end++;
  if (errno || end == text || *end != '\0' || v == 0 || v > UINT64_MAX / mult)
    die("%s must be a positive size (e.g. 1048576, 64M), got \"%s\"", what, text);
  return (uint64_t)v * mult;
}

static long parse_count(const char *text, const char *what, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end != '\0' || v < lo || v > hi)
    die("%s must be an integer in [%ld, %ld], got \"%s\"", what, lo, hi, text);
  return v;
}

static double parse_seconds(const char *text) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end != '\0' || !(v > 0 && v <= 3600))
    die("--seconds must be in (0, 3600], got \"%s\"", text);
  return v;
}

/* Enough descriptors for thousands of connections. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed) {
  uint32_t x = seed ? seed : 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)(x >> 24);
  }
}

/* ---- blocking client sockets ---- */

/* Errors of the client side are returned as text, so a thread can report
 * which connection failed and how. */
typedef struct lg_err {
  char text[256];
} lg_err_t;

static int fail(lg_err_t *e, const char *what) {
  snprintf(e->text, sizeof e->text, "%s: %s", what, errno ? strerror(errno) : "unexpected");
  return -1;
}

static int send_all(int fd, const void *p, size_t n, lg_err_t *e) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return fail(e, "send");
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static int recv_all(int fd, void *p, size_t n, lg_err_t *e) {
  uint8_t *b = p;
  while (n > 0) {
    ssize_t r = recv(fd, b, n, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0) {
      errno = 0;
      snprintf(e->text, sizeof e->text, "recv: EOF with %zu bytes still expected", n);
      return -1;
    }
    if (r < 0)
      return fail(e, "recv");
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

typedef struct lg_target {
  struct sockaddr_storage to, socks;
  socklen_t to_len, socks_len;
  bool via_socks;
  /* RFC 1929 credentials, when auth: the whole subnegotiation message
   * (version, ULEN, UNAME, PLEN, PASSWD), built once. */
  bool auth;
  uint8_t userpass[3 + 2 * LG_SOCKS_FIELD_MAX];
  size_t userpass_len;
} lg_target_t;

/* SOCKS5 CONNECT to t->to over fd (RFC 1928), with RFC 1929
 * username/password when t->auth, else without authentication. */
static int socks5_connect(int fd, const lg_target_t *t, lg_err_t *e) {
  const uint8_t want = t->auth ? 2 : 0;
  uint8_t greet[3] = {5, 1, want}, method[2];
  if (send_all(fd, greet, sizeof greet, e) != 0 || recv_all(fd, method, 2, e) != 0)
    return -1;
  if (method[0] != 5 || method[1] != want) {
    snprintf(e->text, sizeof e->text, "SOCKS5 method reply %02x %02x", method[0], method[1]);
    return -1;
  }
  if (t->auth) {
    uint8_t status[2];
    if (send_all(fd, t->userpass, t->userpass_len, e) != 0 || recv_all(fd, status, 2, e) != 0)
      return -1;
    if (status[0] != 1 || status[1] != 0) {
      snprintf(e->text, sizeof e->text, "SOCKS5 username/password refused (status %02x %02x)",
               status[0], status[1]);
      return -1;
    }
  }
  uint8_t req[22] = {5, 1, 0};
  size_t n;
  if (t->to.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&t->to;
    req[3] = 4;
    memcpy(req + 4, &a->sin6_addr, 16);
    memcpy(req + 20, &a->sin6_port, 2);
    n = 22;
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&t->to;
    req[3] = 1;
    memcpy(req + 4, &a->sin_addr, 4);
    memcpy(req + 8, &a->sin_port, 2);
    n = 10;
  }
  uint8_t head[4];
  if (send_all(fd, req, n, e) != 0 || recv_all(fd, head, 4, e) != 0)
    return -1;
  if (head[0] != 5 || head[1] != 0) {
    snprintf(e->text, sizeof e->text, "SOCKS5 reply code 0x%02x", head[1]);
    return -1;
  }
  size_t rest = head[3] == 1 ? 4 + 2 : head[3] == 4 ? 16 + 2 : 0;
  if (head[3] == 3) {
    uint8_t l;
    if (recv_all(fd, &l, 1, e) != 0)
      return -1;
    rest = (size_t)l + 2;
  }
  uint8_t skip[258];
  if (rest == 0 || rest > sizeof skip) {
    snprintf(e->text, sizeof e->text, "SOCKS5 reply address type %u", head[3]);
    return -1;
  }
  return recv_all(fd, skip, rest, e);
}

/* A connected blocking socket to t->to (through the proxy if any), with
 * I/O timeouts; -1 with e filled on failure. */
static int lg_dial(const lg_target_t *t, lg_err_t *e) {
  const struct sockaddr_storage *ss = t->via_socks ? &t->socks : &t->to;
  socklen_t len = t->via_socks ? t->socks_len : t->to_len;
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail(e, "socket");
    return -1;
  }
  struct timeval tv = {LG_IO_TIMEOUT_S, 0};
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  /* Small request/response exchanges must not wait on Nagle. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc;
  do {
    rc = connect(fd, (const struct sockaddr *)ss, len);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    fail(e, "connect");
    close(fd);
    return -1;
  }
  if (t->via_socks && socks5_connect(fd, t, e) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* ---- server ---- */

typedef struct srv_conn {
  int fd;
  char mode;        /* 0 until the first byte arrived */
  bool eof;         /* the client half-closed */
  uint64_t count;   /* sink: bytes after the mode byte (framed: payload bytes) */
  /* Framed sink: the length header being read, the payload still due in
   * the current frame, and whether the zero length (the end) came. */
  uint8_t hdr[LG_FRAME_HDR];
  uint8_t hdr_have;
  uint32_t frame_left;
  bool ended;
  uint8_t *pending; /* bytes still to send (echo backlog or sink answer) */
  size_t pend_off, pend_len;
} srv_conn_t;

typedef struct srv {
  int lfd;
  atomic_bool stop;
} srv_t;

static void srv_close(int ep, srv_conn_t *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->pending);
  free(c);
}

static void srv_watch(int ep, srv_conn_t *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends the backlog; returns 1 when it is all out, 0 when the socket is
 * full, -1 on error. */
static int srv_flush(srv_conn_t *c) {
  while (c->pend_off < c->pend_len) {
    ssize_t w = send(c->fd, c->pending + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (w <= 0)
      return -1;
    c->pend_off += (size_t)w;
  }
  free(c->pending);
  c->pending = NULL;
  c->pend_off = c->pend_len = 0;
  return 1;
}

/* Queues bytes behind the backlog (copied). */
static int srv_queue(srv_conn_t *c, const uint8_t *p, size_t n) {
  uint8_t *grown = realloc(c->pending, c->pend_len + n);
  if (!grown)
    return -1;
  memcpy(grown + c->pend_len, p, n);
  c->pending = grown;
  c->pend_len += n;
  return 0;
}

/* The state after some progress: close when finished, else wait for
 * what is needed next. Returns false when the connection was closed. */
static bool srv_settle(int ep, srv_conn_t *c) {
  int f = c->pend_len ? srv_flush(c) : 1;
  if (f < 0) {
    srv_close(ep, c);
    return false;
  }
  if (f == 0) {
    srv_watch(ep, c, EPOLLOUT);
    return true;
  }
  if (c->eof) {
    srv_close(ep, c);
    return false;
  }
  srv_watch(ep, c, EPOLLIN);
  return true;
}

static void srv_queue_count(srv_conn_t *c) {
  uint8_t be[8];
  for (int i = 0; i < 8; i++)
    be[i] = (uint8_t)(c->count >> (56 - 8 * i));
  srv_queue(c, be, sizeof be);
}

/* Framed sink input; -1 when the client breaks the framing (bytes after
 * the end). */
static int srv_on_frames(srv_conn_t *c, const uint8_t *p, size_t n) {
  while (n > 0) {
    if (c->ended)
      return -1;
    if (c->frame_left > 0) {
      size_t take = n < c->frame_left ? n : c->frame_left;
      c->count += take;
      c->frame_left -= (uint32_t)take;
      p += take;
      n -= take;
      continue;
    }
    c->hdr[c->hdr_have++] = *p++;
    n--;
    if (c->hdr_have < LG_FRAME_HDR)
      continue;
    c->hdr_have = 0;
    c->frame_left = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 |
                    (uint32_t)c->hdr[2] << 8 | c->hdr[3];
    if (c->frame_left == 0) {
      c->ended = true;
      srv_queue_count(c);
    }
  }
  return 0;
}

/* -1 when the connection must be closed (unknown mode, broken framing). */
static int srv_on_data(srv_conn_t *c, const uint8_t *p, size_t n) {
  if (c->mode == 0) {
    c->mode = (char)p[0];
    p++;
    n--;
  }
  switch (c->mode) {
  case LG_MODE_SINK:
    c->count += n;
    return 0;
  case LG_MODE_FRAMED:
    return srv_on_frames(c, p, n);
  case LG_MODE_ECHO:
    if (n > 0 && srv_queue(c, p, n) != 0)
      c->eof = true; /* out of memory: give up on this connection */
    return 0;
  default:
    return -1;
  }
}

static void srv_on_readable(int ep, srv_conn_t *c, uint8_t *scratch) {
  for (int rounds = 0; rounds < 64; rounds++) {
    /* An echo backlog stops reading: the client must read too. */
    if (c->pend_len)
      break;
    ssize_t r = recv(c->fd, scratch, c->mode == LG_MODE_ECHO ? LG_ECHO_CHUNK : LG_SINK_SCRATCH, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (r < 0) {
      srv_close(ep, c);
      return;
    }
    if (r == 0) {
      c->eof = true;
      /* A framed sink's client ends with a zero length, not with EOF: an
       * EOF before that gets no count. */
      if (c->mode == LG_MODE_SINK)
        srv_queue_count(c);
      break;
    }
    if (srv_on_data(c, scratch, (size_t)r) != 0) {
      srv_close(ep, c);
      return;
    }
    if (c->pend_len && srv_flush(c) < 0) {
      srv_close(ep, c);
      return;
    }
  }
  srv_settle(ep, c);
}

static void srv_accept_all(int ep, int lfd) {
  for (int i = 0; i < 64; i++) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return; /* EAGAIN (another worker took it), or EMFILE: try later */
    srv_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      free(c);
    }
  }
}

static void *srv_worker(void *arg) {
  srv_t *s = arg;
  uint8_t *scratch = malloc(LG_SINK_SCRATCH);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (!scratch || ep < 0)
    die("server: out of memory or epoll_create1 failed");
  struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, s->lfd, &lev) != 0)
    die("server: epoll_ctl: %s", strerror(errno));
  struct epoll_event evs[64];
  while (!atomic_load(&s->stop)) {
    int n = epoll_wait(ep, evs, 64, 200);
    for (int i = 0; i < n; i++) {
      srv_conn_t *c = evs[i].data.ptr;
      if (!c) {
        srv_accept_all(ep, s->lfd);
        continue;
      }
      if (c->pend_len) {
        if (!srv_settle(ep, c))
          continue;
        if (c->pend_len)
          continue;
      }
      srv_on_readable(ep, c, scratch);
    }
  }
  /* Connections still open are the client's business; the process exits. */
  close(ep);
  free(scratch);
  return NULL;
}

static int cmd_server(int argc, char **argv) {
  const char *listen_at = "127.0.0.1:0";
  long threads = 2;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--listen") && i + 1 < argc)
      listen_at = argv[++i];
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = parse_count(argv[++i], "--threads", 1, 64);
    else
      die("server: unknown argument \"%s\"", argv[i]);
  }
  struct sockaddr_storage ss;
  socklen_t len;
  parse_endpoint(listen_at, &ss, &len);
  srv_t s = {.lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  int one = 1;
  if (s.lfd < 0 || setsockopt(s.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(s.lfd, (struct sockaddr *)&ss, len) != 0 || listen(s.lfd, 4096) != 0)
    die("server: cannot listen on %s: %s", listen_at, strerror(errno));
  len = sizeof ss;
  getsockname(s.lfd, (struct sockaddr *)&ss, &len);
  uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
  pthread_t tids[64];
  for (long i = 0; i < threads; i++) {
    if (pthread_create(&tids[i], NULL, srv_worker, &s) != 0)
      die("server: pthread_create failed");
  }
  printf("PORT %u\n", port);
  fflush(stdout);
  /* Serve until whoever started us closes our stdin. */
  char buf[256];
  while (read(STDIN_FILENO, buf, sizeof buf) > 0 || errno == EINTR)
    errno = 0;
  atomic_store(&s.stop, true);
  for (long i = 0; i < threads; i++)
    pthread_join(tids[i], NULL);
  close(s.lfd);
  return 0;
}

/* ---- stream: throughput ---- */

typedef struct stream_job {
  const lg_target_t *t;
  pthread_barrier_t *go;
  const uint8_t *frame; /* a full frame's header, then the chunk */
  const uint8_t *chunk; /* LG_SEND_CHUNK bytes */
  bool framed;
  uint64_t quota;  /* bytes to send, or 0 with a deadline */
  double deadline; /* absolute, set before the barrier opens */
  int fd;
  uint64_t sent;
  double t_end;
  lg_err_t err;
  bool failed;
} stream_job_t;

static void *stream_worker(void *arg) {
  stream_job_t *j = arg;
  pthread_barrier_wait(j->go); /* connected, everyone ready */
  pthread_barrier_wait(j->go); /* main set the deadline */
  uint8_t mode = j->framed ? LG_MODE_FRAMED : LG_MODE_SINK;
  if (send_all(j->fd, &mode, 1, &j->err) != 0)
    goto fail;
  for (;;) {
    size_t n = LG_SEND_CHUNK;
    if (j->quota) {
      if (j->sent >= j->quota)
        break;
      if (j->quota - j->sent < n)
        n = (size_t)(j->quota - j->sent);
    } else if (now_s() >= j->deadline) {
      break;
    }
    int rc;
    if (!j->framed) {
      rc = send_all(j->fd, j->chunk, n, &j->err);
    } else if (n == LG_SEND_CHUNK) {
      rc = send_all(j->fd, j->frame, LG_FRAME_HDR + n, &j->err);
    } else {
      uint8_t hdr[LG_FRAME_HDR] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                                   (uint8_t)n};
      rc = send_all(j->fd, hdr, sizeof hdr, &j->err);
      if (rc == 0)
        rc = send_all(j->fd, j->chunk, n, &j->err);
    }
    if (rc != 0)
      goto fail;
    j->sent += n;
  }
  if (j->framed) {
    const uint8_t end[LG_FRAME_HDR] = {0};
    if (send_all(j->fd, end, sizeof end, &j->err) != 0)
      goto fail;
  } else {
    shutdown(j->fd, SHUT_WR);
  }
  uint8_t be[8];
  if (recv_all(j->fd, be, sizeof be, &j->err) != 0)
    goto fail;
  j->t_end = now_s();
  uint64_t counted = 0;
  for (int i = 0; i < 8; i++)
    counted = counted << 8 | be[i];
  if (counted != j->sent) {
    snprintf(j->err.text, sizeof j->err.text,
             "the sink counted %" PRIu64 " bytes, %" PRIu64 " were sent", counted, j->sent);
    goto fail;
  }
  return NULL;
fail:
  j->failed = true;
  return NULL;
}

/* The options every client takes: where to go and how. */
typedef struct lg_client_opts {
  const char *to, *socks, *user, *pass, *args;
} lg_client_opts_t;

/* Takes argv[*i] (and its value) if it is a client option; false if not. */
static bool parse_client_opt(int argc, char **argv, int *i, lg_client_opts_t *o) {
  if (*i + 1 >= argc)
    return false;
  const char **slot = !strcmp(argv[*i], "--to")           ? &o->to
                      : !strcmp(argv[*i], "--socks")      ? &o->socks
                      : !strcmp(argv[*i], "--socks-user") ? &o->user
                      : !strcmp(argv[*i], "--socks-pass") ? &o->pass
                      : !strcmp(argv[*i], "--socks-args") ? &o->args
                                                          : NULL;
  if (!slot)
    return false;
  *slot = argv[++*i];
  return true;
}

static void put_field(lg_target_t *t, const char *p, size_t n) {
  t->userpass[t->userpass_len++] = (uint8_t)n;
  memcpy(t->userpass + t->userpass_len, p, n);
  t->userpass_len += n;
}

static void parse_target(const lg_client_opts_t *o, lg_target_t *t) {
  if (!o->to)
    die("--to IP:PORT is required");
  memset(t, 0, sizeof *t);
  parse_endpoint(o->to, &t->to, &t->to_len);
  if ((o->user || o->pass || o->args) && !o->socks)
    die("--socks-user, --socks-pass and --socks-args need --socks");
  if (o->args && (o->user || o->pass))
    die("--socks-args replaces --socks-user and --socks-pass: give one or the other");
  if (o->pass && !o->user)
    die("--socks-pass needs --socks-user");
  if (o->socks) {
    parse_endpoint(o->socks, &t->socks, &t->socks_len);
    t->via_socks = true;
  }
  const char *user = o->user, *pass = o->pass;
  size_t ulen = user ? strlen(user) : 0, plen = pass ? strlen(pass) : 0;
  if (o->args) {
    size_t alen = strlen(o->args);
    if (alen == 0 || alen > 2 * LG_SOCKS_FIELD_MAX)
      die("--socks-args must be 1..%d bytes, got %zu", 2 * LG_SOCKS_FIELD_MAX, alen);
    user = o->args;
    ulen = alen < LG_SOCKS_FIELD_MAX ? alen : LG_SOCKS_FIELD_MAX;
    pass = o->args + ulen;
    plen = alen - ulen;
  }
  if (!user)
    return;
  if (ulen == 0 || ulen > LG_SOCKS_FIELD_MAX || plen > LG_SOCKS_FIELD_MAX)
    die("SOCKS username and password must be 1..%d bytes each", LG_SOCKS_FIELD_MAX);
  t->auth = true;
  t->userpass[t->userpass_len++] = 1; /* subnegotiation version */
  put_field(t, user, ulen);
  /* PASSWD cannot be empty; Tor sends a lone NUL when it has nothing. */
  if (plen == 0)
    put_field(t, "", 1);
  else
    put_field(t, pass, plen);
}

static int cmd_stream(int argc, char **argv) {
  lg_client_opts_t opts = {0};
  long streams = 1;
  double seconds = 2;
  uint64_t bytes = 0;
  bool framed = false;
  for (int i = 0; i < argc; i++) {
    if (parse_client_opt(argc, argv, &i, &opts))
      continue;
    if (!strcmp(argv[i], "--no-half-close"))
      framed = true;
    else if (!strcmp(argv[i], "--streams") && i + 1 < argc)
      streams = parse_count(argv[++i], "--streams", 1, LG_MAX_THREADS);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = parse_seconds(argv[++i]);
    else if (!strcmp(argv[i], "--bytes") && i + 1 < argc)
      bytes = parse_size(argv[++i], "--bytes");
    else
      die("stream: unknown argument \"%s\"", argv[i]);
  }
  lg_target_t t;
  parse_target(&opts, &t);
  uint8_t *frame = malloc(LG_FRAME_HDR + LG_SEND_CHUNK);
  stream_job_t *jobs = calloc((size_t)streams, sizeof *jobs);
  pthread_t *tids = calloc((size_t)streams, sizeof *tids);
  if (!frame || !jobs || !tids)
    die("out of memory");
  const uint32_t full = LG_SEND_CHUNK;
  frame[0] = (uint8_t)(full >> 24);
  frame[1] = (uint8_t)(full >> 16);
  frame[2] = (uint8_t)(full >> 8);
  frame[3] = (uint8_t)full;
  uint8_t *chunk = frame + LG_FRAME_HDR;
  fill_pattern(chunk, LG_SEND_CHUNK, 7);
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, (unsigned)streams + 1);
  double t0 = 0;
  for (long i = 0; i < streams; i++) {
    stream_job_t *j = &jobs[i];
    j->t = &t;
    j->go = &go;
    j->frame = frame;
    j->chunk = chunk;
    j->framed = framed;
    /* --bytes is the total: spread it, the first streams take the rest. */
    if (bytes) {
      j->quota = bytes / (uint64_t)streams + ((uint64_t)i < bytes % (uint64_t)streams);
      if (j->quota == 0)
        die("--bytes must be at least --streams");
    }
    j->fd = lg_dial(&t, &j->err);
    if (j->fd < 0)
      die("stream %ld: %s", i, j->err.text);
    if (pthread_create(&tids[i], NULL, stream_worker, j) != 0)
      die("pthread_create failed");
  }
  pthread_barrier_wait(&go);
  t0 = now_s();
  for (long i = 0; i < streams; i++)
    jobs[i].deadline = t0 + seconds;
  pthread_barrier_wait(&go);
  uint64_t total = 0;
  double t_end = t0;
  int bad = 0;
  for (long i = 0; i < streams; i++) {
    pthread_join(tids[i], NULL);
    if (jobs[i].failed) {
      fprintf(stderr, "loadgen: stream %ld: %s\n", i, jobs[i].err.text);
      bad++;
    }
    total += jobs[i].sent;
    if (jobs[i].t_end > t_end)
      t_end = jobs[i].t_end;
    close(jobs[i].fd);
  }
  if (bad)
    return 1;
  double secs = t_end - t0;
  printf("RESULT mode=stream streams=%ld bytes=%" PRIu64 " seconds=%.4f mbps=%.1f\n", streams,
         total, secs, secs > 0 ? (double)total / secs / 1e6 : 0.0);
  pthread_barrier_destroy(&go);
  free(frame);
  free(jobs);
  free(tids);
  return 0;
}

/* ---- connect: new connections per second ---- */

typedef struct connect_job {
  const lg_target_t *t;
  double deadline;
  size_t size;
  uint32_t seed;
  uint64_t done;
  uint64_t errors;
  lg_err_t first_err;
} connect_job_t;

static int one_exchange(connect_job_t *j, uint8_t *out, uint8_t *in, lg_err_t *e) {
  int fd = lg_dial(j->t, e);
  if (fd < 0)
    return -1;
  int rc = -1;
  if (send_all(fd, out, j->size + 1, e) != 0 || recv_all(fd, in, j->size, e) != 0)
    goto done;
  if (memcmp(in, out + 1, j->size) != 0) {
    snprintf(e->text, sizeof e->text, "the echo differs from what was sent");
    goto done;
  }
  rc = 0;
done:
  close(fd);
  return rc;
}

static void *connect_worker(void *arg) {
  connect_job_t *j = arg;
  uint8_t *out = malloc(j->size + 1), *in = malloc(j->size);
  if (!out || !in)
    die("out of memory");
  out[0] = LG_MODE_ECHO;
  while (now_s() < j->deadline) {
    fill_pattern(out + 1, j->size, j->seed++);
    lg_err_t e;
    if (one_exchange(j, out, in, &e) == 0) {
      j->done++;
    } else if (j->errors++ == 0) {
      j->first_err = e;
    }
  }
  free(out);
  free(in);
  return NULL;
}

static int cmd_connect(int argc, char **argv) {
  lg_client_opts_t opts = {0};
  long parallel = 8;
  double seconds = 2;
  uint64_t size = 64;
  for (int i = 0; i < argc; i++) {
    if (parse_client_opt(argc, argv, &i, &opts))
      continue;
    if (!strcmp(argv[i], "--parallel") && i + 1 < argc)
      parallel = parse_count(argv[++i], "--parallel", 1, LG_MAX_THREADS);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = parse_seconds(argv[++i]);
    else if (!strcmp(argv[i], "--size") && i + 1 < argc)
      size = parse_size(argv[++i], "--size");
    else
      die("connect: unknown argument \"%s\"", argv[i]);
  }
  if (size > LG_ECHO_CHUNK)
    die("--size must be at most %d", LG_ECHO_CHUNK);
  lg_target_t t;
  parse_target(&opts, &t);
  connect_job_t jobs[LG_MAX_THREADS];
  pthread_t tids[LG_MAX_THREADS];
  double t0 = now_s();
  for (long i = 0; i < parallel; i++) {
    jobs[i] = (connect_job_t){.t = &t,
                              .deadline = t0 + seconds,
                              .size = (size_t)size,
                              .seed = (uint32_t)(i * 100003 + 1)};
    if (pthread_create(&tids[i], NULL, connect_worker, &jobs[i]) != 0)
      die("pthread_create failed");
  }
  uint64_t done = 0, errors = 0;
  for (long i = 0; i < parallel; i++) {
    pthread_join(tids[i], NULL);
    done += jobs[i].done;
    if (jobs[i].errors && errors == 0)
      fprintf(stderr, "loadgen: connect: %s\n", jobs[i].first_err.text);
    errors += jobs[i].errors;
  }
  double secs = now_s() - t0;
  printf("RESULT mode=connect parallel=%ld conns=%" PRIu64 " errors=%" PRIu64
         " seconds=%.4f rate=%.1f\n",
         parallel, done, errors, secs, (double)done / secs);
  return errors ? 1 : 0;
}

/* ---- hold: idle connections ---- */

static int cmd_hold(int argc, char **argv) {
  lg_client_opts_t opts = {0};
  long conns = 0;
  for (int i = 0; i < argc; i++) {
    if (parse_client_opt(argc, argv, &i, &opts))
      continue;
    if (!strcmp(argv[i], "--conns") && i + 1 < argc)
      conns = parse_count(argv[++i], "--conns", 1, LG_MAX_HOLD);
    else
      die("hold: unknown argument \"%s\"", argv[i]);
  }
  if (conns == 0)
    die("hold: --conns N is required");
  lg_target_t t;
  parse_target(&opts, &t);
  int *fds = malloc((size_t)conns * sizeof *fds);
  if (!fds)
    die("out of memory");
  for (long i = 0; i < conns; i++) {
    lg_err_t e;
    uint8_t probe[LG_PROBE_LEN + 1], back[LG_PROBE_LEN];
    probe[0] = LG_MODE_ECHO;
    fill_pattern(probe + 1, LG_PROBE_LEN, (uint32_t)i + 1);
    fds[i] = lg_dial(&t, &e);
    if (fds[i] < 0)
      die("hold: connection %ld: %s", i, e.text);
    if (send_all(fds[i], probe, sizeof probe, &e) != 0 ||
        recv_all(fds[i], back, sizeof back, &e) != 0)
      die("hold: connection %ld: %s", i, e.text);
    if (memcmp(back, probe + 1, sizeof back) != 0)
      die("hold: connection %ld: the echo differs from what was sent", i);
  }
  printf("HELD %ld\n", conns);
  fflush(stdout);
  char buf[256];
  while (read(STDIN_FILENO, buf, sizeof buf) > 0 || errno == EINTR)
    errno = 0;
  for (long i = 0; i < conns; i++)
    close(fds[i]);
  free(fds);
  printf("RESULT mode=hold conns=%ld\n", conns);
  return 0;
}

/* ---- UDP ---- */

#define LG_UDP_MAX 65507
#define LG_UDP_REFILL_MS 200

static int cmd_udp_echo(int argc, char **argv) {
  const char *listen_at = "127.0.0.1:0";
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--listen") && i + 1 < argc)
      listen_at = argv[++i];
    else
      die("udp-echo: unknown argument \"%s\"", argv[i]);
  }
  struct sockaddr_storage ss;
  socklen_t len;
  parse_endpoint(listen_at, &ss, &len);
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int big = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0)
    die("udp-echo: cannot bind %s: %s", listen_at, strerror(errno));
  socklen_t blen = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &blen);
  printf("PORT %u\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
  fflush(stdout);
  /* stdin closing ends us: watch it beside the socket. */
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  struct epoll_event ev_in = {.events = EPOLLIN | EPOLLHUP, .data.fd = 0};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev_in);
  static uint8_t bufs[16][LG_UDP_MAX + 1];
  for (;;) {
    struct epoll_event got[2];
    int n = epoll_wait(ep, got, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    for (int k = 0; k < n; k++) {
      if (got[k].data.fd == 0) {
        char c[64];
        if (read(0, c, sizeof c) <= 0)
          return 0;
        continue;
      }
      struct mmsghdr m[16];
      struct iovec iov[16];
      struct sockaddr_storage from[16];
      for (int j = 0; j < 16; j++) {
        iov[j] = (struct iovec){bufs[j], sizeof bufs[j]};
        m[j] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[j], .msg_namelen = sizeof from[j],
                                            .msg_iov = &iov[j], .msg_iovlen = 1}};
      }
      int r = recvmmsg(fd, m, 16, MSG_DONTWAIT, NULL);
      for (int j = 0; j < r; j++)
        iov[j].iov_len = m[j].msg_len;
      if (r > 0)
        sendmmsg(fd, m, (unsigned)r, 0);
    }
  }
}

typedef struct {
  struct sockaddr_storage to;
  socklen_t tolen;
  size_t size;
  long window;
  double seconds;
  uint64_t received, sent, lost, bad;
  double elapsed;
} lg_udp_job_t;

static void *udp_flow(void *arg) {
  lg_udp_job_t *j = arg;
  int fd = socket(j->to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (fd < 0 || connect(fd, (struct sockaddr *)&j->to, j->tolen) != 0)
    die("udp: cannot connect: %s", strerror(errno));
  struct timeval tv = {0, LG_UDP_REFILL_MS * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  uint8_t *out = malloc(j->size < 8 ? 8 : j->size), *in = malloc(LG_UDP_MAX + 1);
  if (!out || !in)
    die("udp: out of memory");
  fill_pattern(out, j->size, 11);
  uint64_t seq = 0, outstanding = 0;
  double t0 = now_s(), end = t0 + j->seconds;
  while (now_s() < end) {
    while ((long)outstanding < j->window) {
      if (j->size >= 8)
        memcpy(out, &seq, 8);
      if (send(fd, out, j->size, 0) < 0)
        break;
      seq++;
      j->sent++;
      outstanding++;
    }
    ssize_t r = recv(fd, in, LG_UDP_MAX + 1, 0);
    if (r < 0) {
      /* Nothing for a while: what is out is lost. */
      j->lost += outstanding;
      outstanding = 0;
      continue;
    }
    if ((size_t)r != j->size || (j->size > 8 && memcmp(in + 8, out + 8, j->size - 8) != 0))
      j->bad++;
    else
      j->received++;
    if (outstanding)
      outstanding--;
  }
  j->elapsed = now_s() - t0;
  free(out);
  free(in);
  close(fd);
  return NULL;
}

static int cmd_udp(int argc, char **argv) {
  const char *to = NULL;
  long flows = 1, window = 32;
  size_t size = 1400;
  double seconds = 2;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--to") && i + 1 < argc)
      to = argv[++i];
    else if (!strcmp(argv[i], "--flows") && i + 1 < argc)
      flows = parse_count(argv[++i], "--flows", 1, 256);
    else if (!strcmp(argv[i], "--window") && i + 1 < argc)
      window = parse_count(argv[++i], "--window", 1, 4096);
    else if (!strcmp(argv[i], "--size") && i + 1 < argc)
      size = (size_t)parse_count(argv[++i], "--size", 1, LG_UDP_MAX);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = parse_seconds(argv[++i]);
    else
      die("udp: unknown argument \"%s\"", argv[i]);
  }
  if (!to)
    die("udp: --to is required");
  lg_udp_job_t *jobs = calloc((size_t)flows, sizeof *jobs);
  pthread_t *th = calloc((size_t)flows, sizeof *th);
  if (!jobs || !th)
    die("udp: out of memory");
  for (long f = 0; f < flows; f++) {
    parse_endpoint(to, &jobs[f].to, &jobs[f].tolen);
    jobs[f].size = size;
    jobs[f].window = window;
    jobs[f].seconds = seconds;
    if (pthread_create(&th[f], NULL, udp_flow, &jobs[f]) != 0)
      die("udp: cannot start a thread");
  }
  uint64_t received = 0, sent = 0, lost = 0, bad = 0;
  double elapsed = 0;
  for (long f = 0; f < flows; f++) {
    pthread_join(th[f], NULL);
    received += jobs[f].received;
    sent += jobs[f].sent;
    lost += jobs[f].lost;
    bad += jobs[f].bad;
    if (jobs[f].elapsed > elapsed)
      elapsed = jobs[f].elapsed;
  }
  if (bad)
    die("udp: %" PRIu64 " echoes were not what was sent", bad);
  if (received == 0)
    die("udp: no datagram came back");
  printf("RESULT mode=udp flows=%ld size=%zu window=%ld sent=%" PRIu64 " received=%" PRIu64
         " lost=%" PRIu64 " seconds=%.4f dgps=%.0f mbps=%.1f\n",
         flows, size, window, sent, received, lost, elapsed, received / elapsed,
         (double)received * (double)size / elapsed / 1e6);
  free(jobs);
  free(th);
  return 0;
}

static void usage(void) {
  fputs("usage: ptd_loadgen server  [--listen IP:PORT] [--threads N]\n"
        "       ptd_loadgen stream  --to IP:PORT [SOCKS] [--streams N]\n"
        "                           [--seconds T | --bytes B] [--no-half-close]\n"
        "       ptd_loadgen connect --to IP:PORT [SOCKS] [--seconds T]\n"
        "                           [--parallel P] [--size S]\n"
        "       ptd_loadgen hold    --to IP:PORT [SOCKS] --conns N\n"
        "  ptd_loadgen udp-echo [--listen IP:PORT]\n"
        "  ptd_loadgen udp     --to IP:PORT [--flows F] [--size S] [--window W] [--seconds T]\n"
        "  SOCKS: --socks IP:PORT [--socks-user U [--socks-pass P] | --socks-args A]\n",
        stderr);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  if (argc < 2) {
    usage();
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "server"))
    return cmd_server(argc - 2, argv + 2);
  if (!strcmp(cmd, "stream"))
    return cmd_stream(argc - 2, argv + 2);
  if (!strcmp(cmd, "connect"))
    return cmd_connect(argc - 2, argv + 2);
  if (!strcmp(cmd, "hold"))
    return cmd_hold(argc - 2, argv + 2);
  if (!strcmp(cmd, "udp-echo"))
    return cmd_udp_echo(argc - 2, argv + 2);
  if (!strcmp(cmd, "udp"))
    return cmd_udp(argc - 2, argv + 2);
  usage();
  return 2;
}
