/* shutdown: the ways the parent tells us to stop (spec 1.3).
 *
 *  - stdin EOF, when TOR_PT_EXIT_ON_STDIN_CLOSE=1: graceful, prompt.
 *  - SIGTERM: graceful, prompt.
 *  - SIGINT: the first stops accepting (on_drain); a second stops at once.
 *  - parent death (PR_SET_PDEATHSIG + a periodic getppid() check), when a
 *    managing parent started us: graceful, prompt.
 * The watcher only decides; the callbacks do the work. */
#ifndef PTD_IPC_SHUTDOWN_H
#define PTD_IPC_SHUTDOWN_H

#include <stdbool.h>
#include <sys/types.h>

struct event_base;

typedef struct ipc_shutdown ipc_shutdown_t;

typedef struct ipc_shutdown_cbs {
  void (*on_drain)(void *ctx);      /* stop accepting, let connections finish */
  void (*on_terminate)(void *ctx);  /* close everything and leave the loop */
  void *ctx;
} ipc_shutdown_cbs_t;

/* initial_ppid is getppid() as read at the very start of the process;
 * watch_parent enables parent-death detection. */
ipc_shutdown_t *ipc_shutdown_new(struct event_base *base, bool exit_on_stdin_close,
                                 bool watch_parent, pid_t initial_ppid,
                                 const ipc_shutdown_cbs_t *cbs);
void ipc_shutdown_free(ipc_shutdown_t *sd);

#endif
