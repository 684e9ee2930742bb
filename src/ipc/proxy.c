/* proxy: validation of the upstream proxy URI (TOR_PT_PROXY / -proxy).
 *
 * The URI is split as  scheme "://" [userinfo "@"] hostport ["/"].
 * Userinfo ends at the LAST '@' (as Go's net/url does, so a raw '@' in a
 * password still works) and splits at its first ':' into user and
 * password, each percent-decoded. The host must be an IP literal: the PT
 * spec's URI has an <ip>, and resolving a name would leak a DNS query
 * outside the proxy.
 *
 * Secrets: the credentials are decoded into a stack copy that is wiped
 * before returning, copied to *out only on success, and never written to
 * err - not even a fragment of the URI that might hold them. */
#include "ipc/proxy.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longest scheme we quote back in an error ("socks4a" is 7). */
#define PROXY_SCHEME_QUOTE_MAX 16

/* The schemes are the proxy types' names (upstream_type_name()). */
static const upstream_type_t proxy_types[] = {UPSTREAM_SOCKS5, UPSTREAM_SOCKS4A,
                                              UPSTREAM_HTTP};

static void proxy_err(char *err, size_t errlen, const char *msg) {
  if (err && errlen)
    snprintf(err, errlen, "%s", msg);
}

static bool proxy_is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). Only text of this
 * shape is quoted back: a malformed URI such as "user:pw://..." would
 * otherwise put part of a password into the error. */
static bool proxy_scheme_quotable(const char *s, size_t n) {
  if (n == 0 || n > PROXY_SCHEME_QUOTE_MAX || !proxy_is_alpha(s[0]))
    return false;
  for (size_t i = 1; i < n; i++) {
    char c = s[i];
    if (!proxy_is_alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' &&
        c != '.')
      return false;
  }
  return true;
}

static int proxy_parse_scheme(const char *s, size_t n, upstream_type_t *type,
                              char *err, size_t errlen) {
  for (size_t i = 0; i < sizeof proxy_types / sizeof proxy_types[0]; i++) {
    const char *name = upstream_type_name(proxy_types[i]);
    if (strlen(name) == n && strncasecmp(name, s, n) == 0) {
      *type = proxy_types[i];
      return 0;
    }
  }
  if (err && errlen) {
    if (proxy_scheme_quotable(s, n))
      snprintf(err, errlen, "unsupported proxy scheme \"%.*s\"", (int)n, s);
    else
      snprintf(err, errlen, "invalid proxy scheme");
  }
  return -1;
}

static int proxy_hex(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into out (UPSTREAM_CRED_MAX + 1 bytes).
 * what names the field for the error ("user name" / "password"). */
static int proxy_decode_cred(const char *s, size_t n, char out[static UPSTREAM_CRED_MAX + 1],
                             const char *what, char *err, size_t errlen) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      /* Both hex digits must lie inside s[0..n). */
      int hi = i + 2 < n ? proxy_hex(s[i + 1]) : -1;
      int lo = hi >= 0 ? proxy_hex(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        if (err && errlen)
          snprintf(err, errlen, "invalid percent-encoding in proxy %s", what);
        return -1;
      }
      c = hi * 16 + lo;
      i += 2;
    }
    if (c == 0) {
      if (err && errlen)
        snprintf(err, errlen, "proxy %s contains a NUL byte", what);
      return -1;
    }
    if (o == UPSTREAM_CRED_MAX) {
      if (err && errlen)
        snprintf(err, errlen, "proxy %s is longer than %d bytes", what,
                 UPSTREAM_CRED_MAX);
      return -1;
    }
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return 0;
}

/* Parses userinfo s[0..n) into p->user and p->pass. */
static int proxy_parse_userinfo(const char *s, size_t n, const char *scheme,
                                ipc_proxy_t *p, char *err, size_t errlen) {
  if (p->type == UPSTREAM_SOCKS4A) {
    proxy_err(err, errlen, "socks4a proxy does not take a user name or password");
    return -1;
  }
  const char *colon = memchr(s, ':', n);
  if (!colon || colon == s || colon == s + n - 1) {
    if (err && errlen)
      snprintf(err, errlen, "%s proxy needs both user name and password", scheme);
    return -1;
  }
  size_t ulen = (size_t)(colon - s);
  if (proxy_decode_cred(s, ulen, p->user, "user name", err, errlen) != 0 ||
      proxy_decode_cred(colon + 1, n - ulen - 1, p->pass, "password", err,
                        errlen) != 0)
    return -1;
  p->has_auth = true;
  return 0;
}

/* Parses "IP:port" with at most one '/' after it. */
static int proxy_parse_hostport(const char *s, ipc_proxy_t *p, char *err,
                                size_t errlen) {
  char hp[ADDR_TEXT_MAX];
  size_t n = strlen(s);
  const char *slash = strchr(s, '/');
  if (slash) {
    if (slash != s + n - 1) {
      proxy_err(err, errlen, "proxy URI may not have anything after the port");
      return -1;
    }
    n--;
  }
  if (n >= sizeof hp) {
    proxy_err(err, errlen, "proxy address too long");
    return -1;
  }
  memcpy(hp, s, n);
  hp[n] = '\0';
  char aerr[128];
  if (addr_parse_endpoint(hp, ADDR_ALLOW_NAME, &p->addr, aerr, sizeof aerr) != 0) {
    if (err && errlen)
      snprintf(err, errlen, "bad proxy address: %s", aerr);
    return -1;
  }
  if (p->addr.family == AF_UNSPEC) {
    proxy_err(err, errlen, "proxy address must be an IP literal");
    return -1;
  }
  return 0;
}

static int proxy_parse(const char *uri, ipc_proxy_t *p, char *err, size_t errlen) {
  const char *sep = strstr(uri, "://");
  if (!sep) {
    proxy_err(err, errlen, "proxy URI is missing \"://\"");
    return -1;
  }
  size_t scheme_len = (size_t)(sep - uri);
  if (proxy_parse_scheme(uri, scheme_len, &p->type, err, errlen) != 0)
    return -1;
  const char *rest = sep + 3;
  const char *at = strrchr(rest, '@');
  if (at) {
    if (proxy_parse_userinfo(rest, (size_t)(at - rest), upstream_type_name(p->type),
                             p, err, errlen) != 0)
      return -1;
    rest = at + 1;
  }
  return proxy_parse_hostport(rest, p, err, errlen);
}

int ipc_proxy_parse(const char *uri, ipc_proxy_t *out, char *err, size_t errlen) {
  if (!uri || !*uri || !out) {
    proxy_err(err, errlen, "empty proxy URI");
    return -1;
  }
  ipc_proxy_t p;
  memset(&p, 0, sizeof p);
  int rc = proxy_parse(uri, &p, err, errlen);
  if (rc == 0)
    *out = p;
  sodium_memzero(&p, sizeof p);
  return rc;
}
