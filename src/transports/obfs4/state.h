/* state: a bridge's obfs4 identity, where it comes from and how it is
 * written down, in obfs4proxy's own formats so a bridge can switch
 * implementations and keep its identity (and its users' bridge lines).
 *
 * Server options (TOR_PT_SERVER_TRANSPORT_OPTIONS or -options): node-id
 * (40 hex), private-key (64 hex), drbg-seed (48 hex; obfs4proxy also takes
 * a longer one and uses its first 24 bytes), iat-mode (0-2, decimal with
 * an optional sign, as Go's strconv.Atoi reads it). As obfs4proxy 0.0.14:
 * node-id, private-key and drbg-seed come together (any one of them asks
 * for all three) and then replace whatever obfs4_state.json held; without
 * them obfs4_state.json in the state directory is loaded, or generated on
 * first start. An iat-mode option overrides the file's. Either way the
 * resulting state is written back to obfs4_state.json (0600, atomically),
 * so the override and an options-given identity persist, as they do with
 * obfs4proxy. obfs4_bridgeline.txt holds the Bridge line template
 * obfs4proxy writes.
 *
 * The identity key is a plain X25519 key (obfs4proxy makes it with
 * ntor.NewKeypair(false): no Elligator representative), stored unclamped;
 * the public key is always derived from it (the file's "public-key" is
 * ignored, as obfs4proxy ignores it).
 *
 * The cert is base64 (standard alphabet, no padding) of node-id | public
 * key: 70 characters. */
#ifndef PTD_TRANSPORTS_OBFS4_STATE_H
#define PTD_TRANSPORTS_OBFS4_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/kvlist.h"
#include "transports/obfs4/drbg.h"
#include "transports/obfs4/handshake.h"

#define OBFS4_STATE_FILE "obfs4_state.json"
#define OBFS4_BRIDGELINE_FILE "obfs4_bridgeline.txt"
#define OBFS4_CERT_LEN 70 /* base64 of 52 bytes, unpadded */
/* The longest obfs4_state.json we write (291 bytes in practice). */
#define OBFS4_STATE_JSON_MAX 320

typedef enum {
  OBFS4_IAT_NONE = 0,
  OBFS4_IAT_ENABLED = 1,
  OBFS4_IAT_PARANOID = 2,
} obfs4_iat_mode_t;

typedef struct {
  obfs4_identity_t id;
  uint8_t drbg_seed[DRBG_SEED_LEN];
  obfs4_iat_mode_t iat_mode;
} obfs4_server_state_t;

/* The server's identity from options, else the state directory (loading
 * or creating it), then written back there (see above). state_dir may be
 * NULL only when the options hold the identity. 0, or -1 with err naming
 * the option or file and field and what is wrong with it (never a value).
 * Does not write obfs4_bridgeline.txt: obfs4_state_write_bridgeline does. */
int obfs4_state_load(obfs4_server_state_t *st, const kvlist_t *options, const char *state_dir,
                     char *err, size_t errlen);
/* Writes obfs4_bridgeline.txt for st into state_dir. */
int obfs4_state_write_bridgeline(const obfs4_server_state_t *st, const char *state_dir,
                                 char *err, size_t errlen);

/* cert= text (OBFS4_CERT_LEN chars and a NUL) for a bridge, and back.
 * obfs4_cert_decode accepts exactly what obfs4proxy accepts: 70 base64
 * characters (no padding: obfs4proxy appends "==" itself, so a padded
 * cert fails there too), CR and LF anywhere ignored, unused low bits of
 * the last character not required to be zero. -1 otherwise. */
void obfs4_cert_encode(char out[OBFS4_CERT_LEN + 1], const obfs4_bridge_t *b);
int obfs4_cert_decode(obfs4_bridge_t *b, const char *text);

/* The client's arguments: cert, or node-id and public-key (hex); and
 * iat-mode. 0, or -1 with err naming the key that is missing or
 * malformed (quoted, never its value). */
int obfs4_client_args_parse(const kvlist_t *args, obfs4_bridge_t *bridge,
                            obfs4_iat_mode_t *iat_mode, char *err, size_t errlen);

void obfs4_server_state_clear(obfs4_server_state_t *st);

/* The contents of an obfs4_state.json, read as obfs4proxy reads it (Go's
 * encoding/json: keys matched without regard to case, unknown keys and
 * null values ignored, a missing iat-mode is 0, a missing public-key is
 * fine); origin names the file in errors. iat_override is -1, or 0..2
 * from the options, which replaces the file's iat-mode before it is
 * range-checked (so an override also mends a bad one, as in obfs4proxy).
 * 0, or -1 with err. Exposed for the fuzz target and the tests. */
int obfs4_state_parse_json(obfs4_server_state_t *st, const char *data, size_t len,
                           const char *origin, int iat_override, char *err, size_t errlen);
/* st as obfs4proxy writes obfs4_state.json: its field order, lower-case
 * hex, no spaces, no newline. Returns the length. out holds the private
 * key: wipe it. */
size_t obfs4_state_format_json(const obfs4_server_state_t *st, char out[OBFS4_STATE_JSON_MAX]);

#endif
