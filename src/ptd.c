/* ptd: the entry layer; see ptd.h.
 *
 * The sequence is the spec's: negotiate the version (VERSION or
 * VERSION-ERROR), validate the configuration (ENV-ERROR), validate the
 * upstream proxy (PROXY DONE / PROXY-ERROR), open one listener per known
 * transport (CMETHOD / SMETHOD lines, then DONE), then run until a
 * shutdown trigger. Unknown transport names are skipped without a word
 * (spec 1.2.2.1). */
#include "ptd.h"

#include <event2/dns.h>
#include <event2/event.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "client/client.h"
#include "client/udp_client.h"
#include "ipc/config.h"
#include "ipc/messages.h"
#include "ipc/proxy.h"
#include "ipc/settings.h"
#include "ipc/shutdown.h"
#include "lib/log.h"
#include "lib/statedir.h"
#include "net/closing.h"
#include "server/server.h"
#include "transports/transport.h"

#define PTD_ERR_MAX 512
#define PTD_LOG_FILE "ptdispatch.log"
#define PTD_DIAL_TIMEOUT_S 30

typedef struct ptd {
  struct event_base *base;
  struct evdns_base *dns;
  client_t *client;
  udp_client_t **udp_clients; /* the UDP modes: one per transport */
  size_t n_udp_clients;
  server_t *server;
  ipc_shutdown_t *shutdown;
  bool draining;
} ptd_t;

static size_t open_connections(const ptd_t *p) {
  size_t n = (p->client ? client_open_connections(p->client) : 0) +
             (p->server ? server_open_connections(p->server) : 0);
  for (size_t i = 0; i < p->n_udp_clients; i++)
    n += udp_client_open_connections(p->udp_clients[i]);
  return n;
}

static bool mode_is_udp(ptd_mode_t mode) {
  return mode == PTD_MODE_TRANSPARENT_UDP || mode == PTD_MODE_STUN;
}

static udp_framing_t mode_framing(ptd_mode_t mode) {
  return mode == PTD_MODE_STUN ? UDP_FRAMING_STUN : UDP_FRAMING_LENGTH;
}

static void on_drain(void *ctx) {
  ptd_t *p = ctx;
  p->draining = true;
  if (p->client)
    client_stop_listening(p->client);
  for (size_t i = 0; i < p->n_udp_clients; i++)
    udp_client_stop_new(p->udp_clients[i]);
  if (p->server)
    server_stop_listening(p->server);
  if (open_connections(p) == 0)
    event_base_loopexit(p->base, NULL);
}

static void on_idle(void *ctx) {
  ptd_t *p = ctx;
  if (p->draining && open_connections(p) == 0)
    event_base_loopexit(p->base, NULL);
}

static void on_terminate(void *ctx) {
  ptd_t *p = ctx;
  event_base_loopbreak(p->base);
}

static void parent_log_sink(ptd_log_level_t level, const char *msg) { ipc_msg_log(level, msg); }

static const struct sockaddr *outbound(bool has, const addr_endpoint_t *ep) {
  return has ? (const struct sockaddr *)&ep->sa : NULL;
}

/* Each connection holds two sockets, and the relay may add a pipe pair;
 * a margin stays for listeners, the log and the parent's pipes. */
#define PTD_FDS_PER_CONN 4
#define PTD_FD_RESERVE 16

static size_t max_connections(const ptd_config_t *cfg) {
  if (cfg->max_connections)
    return cfg->max_connections;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return 0;
  if (rl.rlim_cur <= PTD_FD_RESERVE + PTD_FDS_PER_CONN)
    return 1;
  return (size_t)((rl.rlim_cur - PTD_FD_RESERVE) / PTD_FDS_PER_CONN);
}

static void default_endpoint(addr_endpoint_t *ep, const char *text) {
  char err[64];
  addr_parse_endpoint(text, ADDR_ALLOW_PORT0, ep, err, sizeof err);
}

/* How a client reaches its server, in every mode. */
static transport_dial_opts_t client_dial_opts(const ptd_config_t *cfg) {
  transport_dial_opts_t d = {
      .bind_v4 = outbound(cfg->has_outbound_v4, &cfg->outbound_v4),
      .bind_v6 = outbound(cfg->has_outbound_v6, &cfg->outbound_v6),
      .proxy = cfg->has_proxy ? &cfg->proxy : NULL,
      .dial_timeout_s = PTD_DIAL_TIMEOUT_S,
      .handshake_timeout_s = cfg->handshake_timeout_s,
  };
  return d;
}

/* The UDP modes' client: a UDP listener and pool per transport. */
static int start_udp_client(ptd_t *p, const ptd_config_t *cfg, const addr_endpoint_t *listen) {
  p->udp_clients = calloc(cfg->n_transports, sizeof *p->udp_clients);
  if (!p->udp_clients && cfg->n_transports)
    return -1;
  for (size_t i = 0; i < cfg->n_transports; i++) {
    const char *name = cfg->transports[i];
    const transport_ops_t *t = transport_find(name);
    if (!t)
      continue;
    udp_client_opts_t opts = {
        .dial = client_dial_opts(cfg),
        .udp_timeout_s = cfg->udp_timeout_s,
        .queue = cfg->udp_queue,
        .max_peers = max_connections(cfg),
        .framing = mode_framing(cfg->mode),
        .transport = t,
        .args = ipc_options_get(&cfg->options, name),
        .listen = listen,
        .target = cfg->has_target ? &cfg->target : NULL,
        .on_idle = on_idle,
        .ctx = p,
    };
    char err[PTD_ERR_MAX];
    struct sockaddr_storage bound;
    udp_client_t *uc = udp_client_new(p->base, p->dns, &opts, &bound, err, sizeof err);
    if (!uc) {
      ipc_msg_cmethod_error(name, err);
      continue;
    }
    p->udp_clients[p->n_udp_clients++] = uc;
    ipc_msg_cmethod(name, ipc_mode_name(cfg->mode), (struct sockaddr *)&bound);
  }
  ipc_msg_cmethods_done();
  return 0;
}

/* start_client and start_server return 0, -1 when out of memory, or
 * PTD_EXIT_USAGE once an ENV-ERROR line has been said. */
static int start_client(ptd_t *p, const ptd_config_t *cfg) {
  client_opts_t opts = {
      .dial = client_dial_opts(cfg),
      .handshake_timeout_s = cfg->handshake_timeout_s,
      .idle_timeout_s = cfg->idle_timeout_s,
      .json_limit = cfg->params_limit,
      .max_conns = max_connections(cfg),
      .on_idle = on_idle,
      .ctx = p,
  };
  addr_endpoint_t listen;
  if (cfg->has_listen_addr)
    listen = cfg->listen_addr;
  else
    default_endpoint(&listen, "127.0.0.1:0");
  if (mode_is_udp(cfg->mode))
    return start_udp_client(p, cfg, &listen);
  p->client = client_new(p->base, p->dns, &opts);
  if (!p->client)
    return -1;
  for (size_t i = 0; i < cfg->n_transports; i++) {
    const char *name = cfg->transports[i];
    const transport_ops_t *t = transport_find(name);
    if (!t)
      continue;
    char err[PTD_ERR_MAX];
    client_listen_spec_t spec = {
        .kind = cfg->mode == PTD_MODE_SOCKS5 ? CLIENT_LISTEN_SOCKS : CLIENT_LISTEN_TRANSPARENT,
        .transport = t,
        .args = ipc_options_get(&cfg->options, name),
        .listen = &listen,
        .target = cfg->has_target ? &cfg->target : NULL,
    };
    struct sockaddr_storage bound;
    if (client_add_listener(p->client, &spec, &bound, err, sizeof err) != 0) {
      ipc_msg_cmethod_error(name, err);
      continue;
    }
    ipc_msg_cmethod(name, ipc_mode_name(cfg->mode), (struct sockaddr *)&bound);
  }
  ipc_msg_cmethods_done();
  return 0;
}

/* Returns 0; -1 when out of memory; PTD_EXIT_USAGE once it has said
 * ENV-ERROR. */
static int start_server(ptd_t *p, const ptd_config_t *cfg) {
  server_opts_t opts = {
      .bind_v4 = outbound(cfg->has_outbound_v4, &cfg->outbound_v4),
      .bind_v6 = outbound(cfg->has_outbound_v6, &cfg->outbound_v6),
      .dial_timeout_s = PTD_DIAL_TIMEOUT_S,
      .handshake_timeout_s = cfg->handshake_timeout_s,
      .idle_timeout_s = cfg->idle_timeout_s,
      .max_conns = max_connections(cfg),
      .udp = mode_is_udp(cfg->mode),
      .udp_framing = mode_framing(cfg->mode),
      .udp_timeout_s = cfg->udp_timeout_s,
      .on_idle = on_idle,
      .ctx = p,
  };
  if (cfg->has_orport)
    opts.orport = cfg->orport;
  p->server = server_new(p->base, p->dns, &opts);
  if (!p->server)
    return -1;
  /* An unusable cookie file is an ENV-ERROR, as goptlib made it: it is
   * what TOR_PT_AUTH_COOKIE_FILE points at, and no transport could carry
   * a single connection without it. */
  if (cfg->has_extorport) {
    char reason[PTD_ERR_MAX], q[IPC_QUOTE_MAX], msg[PTD_ERR_MAX + IPC_QUOTE_MAX];
    if (server_use_extorport(p->server, &cfg->extorport, cfg->auth_cookie_file, reason,
                             sizeof reason) != 0) {
      snprintf(msg, sizeof msg, "cannot use the Extended ORPort auth cookie file %s: %s",
               ipc_quote(cfg->auth_cookie_file, q, sizeof q), reason);
      ipc_msg_env_error(msg);
      return PTD_EXIT_USAGE;
    }
  }
  for (size_t i = 0; i < cfg->n_transports; i++) {
    const char *name = cfg->transports[i];
    const transport_ops_t *t = transport_find(name);
    if (!t)
      continue;
    char err[PTD_ERR_MAX];
    if (opts.udp && opts.orport.family != AF_INET && opts.orport.family != AF_INET6) {
      snprintf(err, sizeof err, "the %s mode needs an IP address for the target, not a name",
               ipc_mode_name(cfg->mode));
      ipc_msg_smethod_error(name, err);
      continue;
    }
    addr_endpoint_t bind;
    const addr_endpoint_t *given = ipc_config_bindaddr(cfg, name);
    if (given)
      bind = *given;
    else
      default_endpoint(&bind, "0.0.0.0:0");
    struct sockaddr_storage bound;
    const kvlist_t *args = NULL;
    const kvlist_t *options = ipc_options_get(&cfg->options, name);
    if (server_add_listener(p->server, t, options, cfg->state_dir, &bind, &bound, &args, err,
                            sizeof err) != 0) {
      ipc_msg_smethod_error(name, err);
      continue;
    }
    ipc_msg_smethod(name, (struct sockaddr *)&bound, args);
  }
  ipc_msg_smethods_done();
  return 0;
}

/* Sets up logging as configured; the parent only hears LOG lines once
 * VERSION has been said. */
static int setup_logging(const ptd_config_t *cfg, char *err, size_t errlen) {
  log_set_level(cfg->log_level);
  log_set_unsafe(cfg->unsafe_logging);
  if (cfg->enable_logging) {
    char *path = statedir_path(cfg->state_dir, PTD_LOG_FILE);
    if (!path) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    int rc = log_open_file(path, err, errlen);
    free(path);
    if (rc != 0)
      return -1;
  }
  log_set_parent_sink(parent_log_sink);
  return 0;
}

/* libevent's own complaints (an epoll refusal on a /dev/null stdin, say)
 * belong in our log, never raw on stderr where the parent reads errors. */
static void libevent_log(int severity, const char *msg) {
  if (severity >= EVENT_LOG_ERR)
    log_error("libevent: %s", msg);
  else
    log_debug("libevent: %s", msg);
}

/* SIGTERM and SIGINT stay blocked until the shutdown watcher can turn
 * them into a clean exit; one that arrives before then waits for it. */
static void set_stop_signals_blocked(bool blocked) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

static struct evdns_base *dns_new(struct event_base *base) {
  struct evdns_base *dns = evdns_base_new(
      base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  if (dns)
    return dns;
  /* No usable resolv.conf: /etc/hosts and literals still work. */
  dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  if (dns)
    evdns_base_load_hosts(dns, NULL);
  return dns;
}

/* The epoll changelist folds the enable/disable pairs a relay makes within
 * one loop pass (output drained, then refilled) into one epoll_ctl or
 * none. Its one caveat, dup()ed descriptors, does not arise here. Precise
 * timers (a timerfd under epoll): obfs4's inter-arrival delays are
 * multiples of 100 microseconds, which epoll_wait's millisecond timeout
 * would round up to whole milliseconds. */
static struct event_base *event_base_new_tuned(void) {
  struct event_config *ec = event_config_new();
  if (!ec)
    return NULL;
  event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
  struct event_base *base = event_base_new_with_config(ec);
  event_config_free(ec);
  return base;
}

static int run(const ptd_config_t *cfg, pid_t initial_ppid) {
  ptd_t p = {0};
  int rc = PTD_EXIT_FAILURE;
  p.base = event_base_new_tuned();
  p.dns = p.base ? dns_new(p.base) : NULL;
  if (!p.base || !p.dns) {
    log_error("cannot create the event loop");
    goto out;
  }
  /* The watcher comes first: a parent may send SIGTERM the moment it
   * reads DONE. Signals blocked since startup are delivered to it now. */
  ipc_shutdown_cbs_t cbs = {.on_drain = on_drain, .on_terminate = on_terminate, .ctx = &p};
  p.shutdown = ipc_shutdown_new(p.base, cfg->exit_on_stdin_close, cfg->managed, initial_ppid,
                                &cbs);
  if (!p.shutdown) {
    log_error("cannot watch for shutdown signals");
    goto out;
  }
  set_stop_signals_blocked(false);
  int started = cfg->role == PTD_ROLE_CLIENT ? start_client(&p, cfg) : start_server(&p, cfg);
  if (started == PTD_EXIT_USAGE) {
    rc = PTD_EXIT_USAGE; /* the ENV-ERROR line has been said */
    goto out;
  }
  if (started != 0) {
    log_error("out of memory starting the %s", cfg->role == PTD_ROLE_CLIENT ? "client" : "server");
    goto out;
  }
  event_base_dispatch(p.base);
  rc = PTD_EXIT_OK;
out:
  client_free(p.client);
  for (size_t i = 0; i < p.n_udp_clients; i++)
    udp_client_free(p.udp_clients[i]);
  free(p.udp_clients);
  server_free(p.server);
  net_closing_free_all();
  ipc_shutdown_free(p.shutdown);
  if (p.dns)
    evdns_base_free(p.dns, 0);
  if (p.base)
    event_base_free(p.base);
  return rc;
}

/* Each relayed connection holds two descriptors; the common default soft
 * limit (1024) would cap a busy bridge near 500 clients for no reason when
 * the hard limit allows more. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* A bulk transfer allocates and frees read buffers of 64-256 KiB all the
 * time. glibc's defaults hand such memory back to the kernel (mmap for
 * big blocks, a trimmed heap top) soon after it is freed, so every refill
 * page-faults fresh zeroed pages in: a few percent of an obfs4 stream's
 * CPU. Fixed thresholds keep up to 4 MiB of freed heap for reuse; idle
 * connections hold no such buffers, so their footprint does not change. */
static void tune_malloc(void) {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
#endif
}

int ptd_main(int argc, char *argv[], char *envp[]) {
  pid_t initial_ppid = getppid();
  /* A peer that vanishes mid-write must cost one connection, not the
   * process. */
  signal(SIGPIPE, SIG_IGN);
  tune_malloc();
  /* libsodium's own generator (ChaCha20, keyed once from getrandom(2),
   * key erased as it goes) instead of one getrandom(2) per call: an obfs4
   * handshake makes a dozen draws. It keeps one state per process and
   * aborts if used in a forked child: ptdispatch is one thread and never
   * forks. */
  randombytes_set_implementation(&randombytes_internal_implementation);
  /* Picks libsodium's fastest implementations for this CPU (X25519 takes
   * half the time) and readies its random source before any handshake. */
  if (sodium_init() < 0) {
    fprintf(stderr, "ptdispatch: cannot initialise libsodium\n");
    return 1;
  }
  set_stop_signals_blocked(true);
  event_set_log_callback(libevent_log);
  raise_fd_limit();

  ipc_settings_t settings;
  char flag_err[PTD_ERR_MAX] = "";
  int flags_rc = ipc_settings_read(&settings, argc, argv, envp, flag_err, sizeof flag_err);
  bool want_help = false, want_version = false;
  if (flags_rc == 0) {
    char ignored[PTD_ERR_MAX];
    ipc_setting_bool(&settings.opt[IPC_OPT_HELP], &want_help, ignored, sizeof ignored);
    ipc_setting_bool(&settings.opt[IPC_OPT_VERSION], &want_version, ignored, sizeof ignored);
  }
  if (want_help) {
    ipc_usage(stdout, "ptdispatch");
    return PTD_EXIT_OK;
  }
  if (want_version) {
    printf("ptdispatch %s\n", PTD_VERSION);
    return PTD_EXIT_OK;
  }

  const char *version = NULL;
  bool managed = false;
  char err[PTD_ERR_MAX];
  if (ipc_version_negotiate(&settings, &version, &managed, err, sizeof err) != 0) {
    ipc_msg_version_error(err);
    return PTD_EXIT_CONFIG;
  }
  ipc_msg_version(version);
  ipc_msg_status_version();
  if (flags_rc != 0) {
    ipc_msg_env_error(flag_err);
    return PTD_EXIT_USAGE;
  }

  ptd_config_t cfg = {0};
  int rc = PTD_EXIT_USAGE;
  if (ipc_config_build(&settings, &cfg, err, sizeof err) != 0) {
    ipc_msg_env_error(err);
    goto out;
  }
  cfg.version = version;
  cfg.managed = managed;
  if (statedir_create(cfg.state_dir, err, sizeof err) != 0) {
    char msg[PTD_ERR_MAX + 64];
    snprintf(msg, sizeof msg, "bad state directory in %s: %s",
             settings.opt[IPC_OPT_STATE].source ? settings.opt[IPC_OPT_STATE].source
                                                : "TOR_PT_STATE_LOCATION",
             err);
    ipc_msg_env_error(msg);
    goto out;
  }
  if (setup_logging(&cfg, err, sizeof err) != 0) {
    ipc_msg_env_error(err);
    goto out;
  }
  if (cfg.role == PTD_ROLE_CLIENT && ipc_setting_present(&settings.opt[IPC_OPT_PROXY])) {
    if (ipc_proxy_parse(settings.opt[IPC_OPT_PROXY].value, &cfg.proxy, err, sizeof err) != 0) {
      ipc_msg_proxy_error(err);
      rc = PTD_EXIT_UNAVAILABLE;
      goto out;
    }
    cfg.has_proxy = true;
    ipc_msg_proxy_done();
  }
  log_info("ptdispatch %s starting as %s", PTD_VERSION,
           cfg.role == PTD_ROLE_CLIENT ? "client" : "server");
  rc = run(&cfg, initial_ppid);
  log_info("ptdispatch exiting");
out:
  log_set_parent_sink(NULL);
  log_close();
  ipc_config_clear(&cfg);
  return rc;
}
