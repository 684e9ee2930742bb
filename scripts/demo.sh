#!/usr/bin/env bash
# demo.sh BINARY: fetch a web page through a ptdispatch tunnel.
#
#   curl --socks5 --> client ptdispatch --(transport)--> server ptdispatch --> HTTP server
#
# Both ptdispatch processes are launched the way Tor launches them (TOR_PT_*
# variables, lines on stdout, stdin closed to stop them). Everything runs on
# 127.0.0.1 with ephemeral ports; every wait is bounded; the temp directory
# and all processes are removed on exit. Exits non-zero if any step fails.
set -euo pipefail

DEMO_TRANSPORT=${DEMO_TRANSPORT:-obfs4}
DEMO_WAIT=${DEMO_WAIT:-15}        # seconds for each bounded wait
PAGE_TEXT="Hello through the tunnel"

usage() { echo "usage: $0 path/to/ptdispatch" >&2; exit 2; }
[[ $# -eq 1 ]] || usage
[[ -f "$1" && -x "$1" ]] || { echo "demo: not an executable: $1" >&2; exit 2; }
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
for tool in python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "demo: $tool is needed (scripts/deps.sh)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/ptd-demo.XXXXXX")
http_pid="" server_pid="" client_pid=""
server_in="" client_in=""

cleanup() {
  local rc=$?
  trap - EXIT
  if [[ -n "$client_in" ]]; then exec {client_in}>&- || true; fi
  if [[ -n "$server_in" ]]; then exec {server_in}>&- || true; fi
  for pid in "$client_pid" "$server_pid" "$http_pid"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in "$client_pid" "$server_pid" "$http_pid"; do
    [[ -n "$pid" ]] || continue
    for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

heading() { printf '\n== %s\n' "$*"; }
indent() { sed 's/^/   /' "$@"; }
fail() {
  echo "demo: FAILED: $*" >&2
  for f in server.out server.err client.out client.err http.log; do
    if [[ -s "$work/$f" ]]; then echo "--- $f" >&2; indent "$work/$f" >&2; fi
  done
  exit 1
}

# wait_line FILE REGEX PID WHAT: polls FILE until a line matches REGEX.
# Fails at once on a fatal PT error line or if PID exits; bounded in time.
wait_line() {
  local file=$1 re=$2 pid=$3 what=$4 i
  for ((i = 0; i < DEMO_WAIT * 10; i++)); do
    if grep -qE "$re" "$file" 2>/dev/null; then return 0; fi
    if grep -qE '^(VERSION-ERROR|ENV-ERROR|PROXY-ERROR)' "$file" 2>/dev/null; then
      fail "$what reported an error"
    fi
    kill -0 "$pid" 2>/dev/null || fail "$what exited before saying '$re'"
    sleep 0.1
  done
  fail "$what did not say '$re' within ${DEMO_WAIT}s"
}

# wait_exit PID WHAT: waits (bounded) for PID to exit; sets exit_rc.
exit_rc=""
wait_exit() {
  local pid=$1 what=$2 i
  for ((i = 0; i < DEMO_WAIT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    fail "$what still running ${DEMO_WAIT}s after its stdin closed"
  fi
  exit_rc=0
  wait "$pid" || exit_rc=$?
}

# --- 1. a web page to fetch -------------------------------------------------
mkdir -p "$work/www" "$work/server-state" "$work/client-state"
cat >"$work/www/index.html" <<EOF
<!doctype html>
<html><head><title>ptdispatch demo</title></head>
<body><h1>$PAGE_TEXT</h1>
<p>This page came from a local HTTP server, through an obfuscated tunnel ($DEMO_TRANSPORT) made by two ptdispatch processes.</p>
</body></html>
EOF

python3 -u -m http.server --bind 127.0.0.1 --directory "$work/www" 0 \
  </dev/null >"$work/http.log" 2>&1 &
http_pid=$!
wait_line "$work/http.log" 'Serving HTTP on .* port [0-9]+' "$http_pid" "the HTTP server"
http_port=$(sed -nE 's/.*Serving HTTP on .* port ([0-9]+).*/\1/p' "$work/http.log" | head -n1)
[[ -n "$http_port" ]] || fail "could not read the HTTP server's port"
heading "HTTP server (python3 -m http.server) on 127.0.0.1:$http_port"

# --- 2. the server ptdispatch -------------------------------------------------
# Its stdin is a fifo this script holds open; closing it asks it to stop.
mkfifo "$work/server.in"
exec {server_in}<>"$work/server.in"
server_env=(
  TOR_PT_MANAGED_TRANSPORT_VER=1
  TOR_PT_SERVER_TRANSPORTS="$DEMO_TRANSPORT"
  TOR_PT_SERVER_BINDADDR="$DEMO_TRANSPORT-127.0.0.1:0"
  TOR_PT_ORPORT="127.0.0.1:$http_port"
  TOR_PT_STATE_LOCATION="$work/server-state"
  TOR_PT_EXIT_ON_STDIN_CLOSE=1
)
heading "Server ptdispatch: environment"
printf '   %s\n' "${server_env[@]}"
env -i "${server_env[@]}" "$BIN" <"$work/server.in" >"$work/server.out" 2>"$work/server.err" \
  {server_in}>&- &
server_pid=$!
wait_line "$work/server.out" '^SMETHODS DONE$' "$server_pid" "the server ptdispatch"
heading "Server ptdispatch said (stdout)"
indent "$work/server.out"

smethod=$(awk -v t="$DEMO_TRANSPORT" '$1 == "SMETHOD" && $2 == t { print; exit }' "$work/server.out")
[[ -n "$smethod" ]] || fail "no SMETHOD line for $DEMO_TRANSPORT"
server_addr=$(awk '{ print $3 }' <<<"$smethod")
if [[ "$DEMO_TRANSPORT" == obfs4 ]]; then
  # What a bridge operator hands out: the server wrote its identity (0600)
  # and the Bridge line in obfs4proxy's own files.
  heading "Server state directory (obfs4proxy's file names and formats)"
  (cd "$work/server-state" && ls -l obfs4_state.json obfs4_bridgeline.txt) | indent
  heading "Bridge line the server wrote (obfs4_bridgeline.txt)"
  grep '^Bridge obfs4 ' "$work/server-state/obfs4_bridgeline.txt" | indent \
    || fail "no Bridge line in obfs4_bridgeline.txt"
fi
server_args=$(awk '{ for (i = 4; i <= NF; i++) if ($i ~ /^ARGS:/) { sub(/^ARGS:/, "", $i); print $i } }' <<<"$smethod")

# --- 3. the client ptdispatch -------------------------------------------------
mkfifo "$work/client.in"
exec {client_in}<>"$work/client.in"
client_env=(
  TOR_PT_MANAGED_TRANSPORT_VER=1
  TOR_PT_CLIENT_TRANSPORTS="$DEMO_TRANSPORT"
  TOR_PT_STATE_LOCATION="$work/client-state"
  TOR_PT_EXIT_ON_STDIN_CLOSE=1
)
heading "Client ptdispatch: environment"
printf '   %s\n' "${client_env[@]}"
env -i "${client_env[@]}" "$BIN" <"$work/client.in" >"$work/client.out" 2>"$work/client.err" \
  {client_in}>&- {server_in}>&- &
client_pid=$!
wait_line "$work/client.out" '^CMETHODS DONE$' "$client_pid" "the client ptdispatch"
heading "Client ptdispatch said (stdout)"
indent "$work/client.out"

cmethod=$(awk -v t="$DEMO_TRANSPORT" '$1 == "CMETHOD" && $2 == t { print; exit }' "$work/client.out")
[[ -n "$cmethod" ]] || fail "no CMETHOD line for $DEMO_TRANSPORT"
socks_addr=$(awk '{ print $4 }' <<<"$cmethod")

# --- 4. fetch the page through the tunnel -------------------------------------
# The SOCKS CONNECT names the server ptdispatch's address; the server relays
# to its ORPort, the HTTP server. Transports with ARGS (obfs4's cert=...) get
# them as SOCKS username, as Tor sends them (k=v;k=v).
curl_cmd=(curl --silent --show-error --fail --max-time "$DEMO_WAIT" --socks5 "$socks_addr")
if [[ -n "$server_args" ]]; then
  curl_cmd+=(--proxy-user "${server_args//,/;}:")
fi
curl_cmd+=(-o "$work/page.html" "http://$server_addr/")
heading "Fetching through the tunnel"
printf '   $'
printf ' %q' "${curl_cmd[@]}"
printf '\n'
"${curl_cmd[@]}" {client_in}>&- {server_in}>&- 2>"$work/curl.err" \
  || fail "curl failed: $(cat "$work/curl.err")"
heading "Page fetched"
indent "$work/page.html"
grep -q "$PAGE_TEXT" "$work/page.html" || fail "the page does not say '$PAGE_TEXT'"
cmp -s "$work/page.html" "$work/www/index.html" || fail "the page differs from the one served"

# --- 5. stop both the way Tor does: close their stdin --------------------------
heading "Stopping: closing both processes' stdin (TOR_PT_EXIT_ON_STDIN_CLOSE=1)"
exec {client_in}>&-
client_in=""
exec {server_in}>&-
server_in=""
wait_exit "$client_pid" "the client ptdispatch"
client_rc=$exit_rc
client_pid=""
wait_exit "$server_pid" "the server ptdispatch"
server_rc=$exit_rc
server_pid=""
echo "   client ptdispatch exited with code $client_rc"
echo "   server ptdispatch exited with code $server_rc"
[[ "$client_rc" == 0 ]] || fail "the client ptdispatch exited with $client_rc"
[[ "$server_rc" == 0 ]] || fail "the server ptdispatch exited with $server_rc"

heading "Demo OK: the page came through the $DEMO_TRANSPORT tunnel"
