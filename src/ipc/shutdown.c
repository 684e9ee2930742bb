/* shutdown: see shutdown.h.
 *
 * State: running -> draining (first SIGINT) -> terminated. Any terminate
 * trigger (SIGTERM, second SIGINT, stdin EOF with the flag, parent gone)
 * calls on_terminate once; later triggers are ignored. */
#include "ipc/shutdown.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"

#define PARENT_CHECK_INTERVAL_S 1

struct ipc_shutdown {
  ipc_shutdown_cbs_t cbs;
  bool exit_on_stdin_close;
  bool draining;
  bool terminated;
  pid_t initial_ppid;
  struct event *sigterm_ev;
  struct event *sigint_ev;
  struct event *stdin_ev;
  struct event *parent_ev;
  struct event *defer_ev; /* fires a terminate decided before the loop ran */
};

/* Once we are leaving, a parent's repeated SIGTERM (Tor sends one, closes
 * stdin, and sends another) or a late SIGINT must not kill us mid-cleanup
 * with a signal status instead of exit 0: block them; still-pending ones
 * die with the process. */
static void block_stop_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
}

static void terminate(ipc_shutdown_t *sd, const char *why) {
  if (sd->terminated)
    return;
  sd->terminated = true;
  block_stop_signals();
  log_info("shutting down: %s", why);
  sd->cbs.on_terminate(sd->cbs.ctx);
}

static void on_sigterm(evutil_socket_t fd, short what, void *arg) {
  terminate(arg, "SIGTERM");
}

static void on_sigint(evutil_socket_t fd, short what, void *arg) {
  ipc_shutdown_t *sd = arg;
  if (sd->draining) {
    terminate(sd, "second SIGINT");
    return;
  }
  sd->draining = true;
  log_info("SIGINT: no longer accepting; waiting for open connections");
  sd->cbs.on_drain(sd->cbs.ctx);
}

/* Reads and discards whatever the parent writes; stdin carries no
 * commands, only its closing matters. */
static void on_stdin(evutil_socket_t fd, short what, void *arg) {
  ipc_shutdown_t *sd = arg;
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN)))
    return;
  event_del(sd->stdin_ev);
  if (sd->exit_on_stdin_close)
    terminate(sd, "stdin closed");
}

static bool parent_gone(const ipc_shutdown_t *sd) { return getppid() != sd->initial_ppid; }

static void on_parent_check(evutil_socket_t fd, short what, void *arg) {
  ipc_shutdown_t *sd = arg;
  if (parent_gone(sd))
    terminate(sd, "parent process exited");
}

static void on_deferred(evutil_socket_t fd, short what, void *arg) {
  terminate(arg, "stdin closed");
}

/* stdin that epoll cannot watch (a regular file, /dev/null) is read to
 * its end right away: such a stdin has no writer that could keep it open. */
static void watch_stdin(ipc_shutdown_t *sd, struct event_base *base) {
  sd->stdin_ev = event_new(base, STDIN_FILENO, EV_READ | EV_PERSIST, on_stdin, sd);
  if (sd->stdin_ev && event_add(sd->stdin_ev, NULL) == 0)
    return;
  if (sd->stdin_ev) {
    event_free(sd->stdin_ev);
    sd->stdin_ev = NULL;
  }
  struct stat st;
  if (fstat(STDIN_FILENO, &st) != 0) {
    if (sd->exit_on_stdin_close)
      event_active(sd->defer_ev, EV_TIMEOUT, 0);
    return;
  }
  if (!sd->exit_on_stdin_close)
    return;
  char buf[4096];
  ssize_t n;
  do {
    n = read(STDIN_FILENO, buf, sizeof buf);
  } while (n > 0 || (n < 0 && errno == EINTR));
  event_active(sd->defer_ev, EV_TIMEOUT, 0);
}

ipc_shutdown_t *ipc_shutdown_new(struct event_base *base, bool exit_on_stdin_close,
                                 bool watch_parent, pid_t initial_ppid,
                                 const ipc_shutdown_cbs_t *cbs) {
  ipc_shutdown_t *sd = calloc(1, sizeof *sd);
  if (!sd)
    return NULL;
  sd->cbs = *cbs;
  sd->exit_on_stdin_close = exit_on_stdin_close;
  sd->initial_ppid = initial_ppid;
  sd->sigterm_ev = evsignal_new(base, SIGTERM, on_sigterm, sd);
  sd->sigint_ev = evsignal_new(base, SIGINT, on_sigint, sd);
  sd->defer_ev = event_new(base, -1, 0, on_deferred, sd);
  if (!sd->sigterm_ev || !sd->sigint_ev || !sd->defer_ev ||
      event_add(sd->sigterm_ev, NULL) != 0 || event_add(sd->sigint_ev, NULL) != 0) {
    ipc_shutdown_free(sd);
    return NULL;
  }
  watch_stdin(sd, base);
  if (watch_parent) {
    /* PDEATHSIG turns the parent's death into our SIGTERM; the periodic
     * getppid() check covers the parent dying before prctl() ran, and
     * parents whose exiting thread was not the one that forked us. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    struct timeval every = {PARENT_CHECK_INTERVAL_S, 0};
    sd->parent_ev = event_new(base, -1, EV_PERSIST, on_parent_check, sd);
    if (!sd->parent_ev || event_add(sd->parent_ev, &every) != 0) {
      ipc_shutdown_free(sd);
      return NULL;
    }
    if (parent_gone(sd))
      event_active(sd->parent_ev, EV_TIMEOUT, 0);
  }
  return sd;
}

void ipc_shutdown_free(ipc_shutdown_t *sd) {
  if (!sd)
    return;
  block_stop_signals();
  struct event *evs[] = {sd->sigterm_ev, sd->sigint_ev, sd->stdin_ev, sd->parent_ev,
                         sd->defer_ev};
  for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
    if (evs[i])
      event_free(evs[i]);
  }
  free(sd);
}
