/* ptd: the entry layer. Wires the parent contract (ipc/) to the roles
 * (client/, server/) and runs the event loop. Returns the process's exit
 * code: 0, or the spec's 78 (VERSION-ERROR), 64 (ENV-ERROR), 69
 * (PROXY-ERROR), 1 (a failure after configuration). */
#ifndef PTD_PTD_H
#define PTD_PTD_H

enum {
  PTD_EXIT_OK = 0,
  PTD_EXIT_FAILURE = 1,
  PTD_EXIT_USAGE = 64,       /* EX_USAGE: ENV-ERROR */
  PTD_EXIT_UNAVAILABLE = 69, /* EX_UNAVAILABLE: PROXY-ERROR */
  PTD_EXIT_CONFIG = 78,      /* EX_CONFIG: VERSION-ERROR */
};

int ptd_main(int argc, char *argv[], char *envp[]);

#endif
