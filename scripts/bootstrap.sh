#!/usr/bin/env bash
# Makes a fresh clone runnable: Node check, pnpm, the NATS and PostgreSQL server binaries when no
# server is configured or running, dependencies from the lockfile, and a build. Safe to run again.
# With --docker (the test command), also a running Docker engine and a static busybox, which the
# Docker tests import as their image (no registry needed).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'vigil setup: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || fail "Node.js 20 or newer is required (found $(node --version 2>/dev/null || echo none))"

want_pnpm=$(node -p 'require("./package.json").packageManager.split("@")[1]')
pnpm_works() { command -v pnpm >/dev/null 2>&1 && COREPACK_ENABLE_DOWNLOAD_PROMPT=0 pnpm --version >/dev/null 2>&1; }
if ! pnpm_works; then
  say "installing pnpm ${want_pnpm}"
  # A corepack shim that cannot fetch pnpm (registry mirrors without signatures) is in the way: drop it.
  if command -v pnpm >/dev/null 2>&1 && command -v corepack >/dev/null 2>&1; then corepack disable pnpm 2>/dev/null || true; fi
  npm install -g --force "pnpm@${want_pnpm}" >/dev/null 2>&1 \
    || { command -v corepack >/dev/null 2>&1 && COREPACK_ENABLE_DOWNLOAD_PROMPT=0 COREPACK_INTEGRITY_KEYS=0 corepack enable pnpm; } \
    || true
  pnpm_works || fail "could not install pnpm: run npm install -g pnpm@${want_pnpm}"
fi

reachable() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
have_initdb() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${PG_BIN:-}" ]; }
have_nats() { command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || [ -n "${NATS_SERVER_BIN:-}" ]; }

want_docker=false
[ "${1:-}" = "--docker" ] && want_docker=true
docker_answers() { command -v docker >/dev/null 2>&1 && docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
have_busybox() { [ -n "${VIGIL_TEST_BUSYBOX:-}" ] || file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; }

missing=()
if [ -z "${NATS_URL:-}" ] && ! reachable 4222 && ! have_nats; then missing+=(nats-server); fi
if [ -z "${DATABASE_URL:-}" ] && ! reachable 5432 && ! have_initdb; then missing+=(postgresql); fi
if $want_docker; then
  if [ -z "${DOCKER_HOST:-}" ] && ! docker_answers && ! command -v dockerd >/dev/null 2>&1; then missing+=(docker.io); fi
  have_busybox || missing+=(busybox-static file)
  [ -x /usr/sbin/tc ] || [ -x /sbin/tc ] || missing+=(iproute2)
  # The status page's browser tests drive Debian's chromium (CHROMIUM_PATH elsewhere).
  [ -n "${CHROMIUM_PATH:-}" ] || command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # The exported Prometheus rules are checked by Prometheus' own promtool (PROMTOOL elsewhere).
  [ -n "${PROMTOOL:-}" ] || command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || fail "missing here: ${missing[*]}; install them (or set NATS_URL / DATABASE_URL / DOCKER_HOST)"
  say "installing ${missing[*]} from the distribution's packages"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]} failed; install them by hand (or set NATS_URL / DATABASE_URL / DOCKER_HOST)"
fi
if $want_docker && [ -z "${DOCKER_HOST:-}" ] && ! docker_answers; then
  say "starting dockerd (log: /var/log/vigil-dockerd.log)"
  $sudo sh -c 'nohup dockerd >/var/log/vigil-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do docker_answers && break; sleep 0.5; done
  docker_answers || fail "dockerd did not come up; see /var/log/vigil-dockerd.log"
fi

pnpm install --frozen-lockfile --reporter=silent
pnpm run --silent build
