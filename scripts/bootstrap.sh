#!/usr/bin/env bash
# Makes a fresh clone runnable: Node check, pnpm, the NATS and PostgreSQL server binaries when no
# server is configured or running, dependencies from the lockfile, and a build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'vigil setup: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || fail "Node.js 20 or newer is required (found $(node --version 2>/dev/null || echo none))"

if ! command -v pnpm >/dev/null 2>&1; then
  say "installing pnpm (the version in package.json)"
  want=$(node -p 'require("./package.json").packageManager.split("@")[1]')
  if command -v corepack >/dev/null 2>&1 && COREPACK_ENABLE_DOWNLOAD_PROMPT=0 corepack enable pnpm 2>/dev/null \
      && COREPACK_ENABLE_DOWNLOAD_PROMPT=0 pnpm --version >/dev/null 2>&1; then
    :
  else
    npm install -g "pnpm@${want}" >/dev/null || fail "could not install pnpm: npm install -g pnpm@${want}"
  fi
fi

reachable() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
have_initdb() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${PG_BIN:-}" ]; }
have_nats() { command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || [ -n "${NATS_SERVER_BIN:-}" ]; }

missing=()
if [ -z "${NATS_URL:-}" ] && ! reachable 4222 && ! have_nats; then missing+=(nats-server); fi
if [ -z "${DATABASE_URL:-}" ] && ! reachable 5432 && ! have_initdb; then missing+=(postgresql); fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  command -v apt-get >/dev/null 2>&1 || fail "no NATS or PostgreSQL here: install ${missing[*]} or set NATS_URL / DATABASE_URL"
  say "installing ${missing[*]} from the distribution's packages"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]} failed; install them by hand or set NATS_URL / DATABASE_URL"
fi

pnpm install --frozen-lockfile --reporter=silent
pnpm run --silent build
