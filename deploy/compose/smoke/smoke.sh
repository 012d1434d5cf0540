#!/usr/bin/env bash
# Smoke test of deploy/compose where no registry can be reached: builds every image locally
# (a debootstrap'ed Debian base, the host's node and nats-server, Debian's PostgreSQL 15), brings
# the stack up with docker-compose (Jaeger replaced by an OTLP/HTTP receiver on the host), runs
# `vigil publish validation.requested --suite vigil-self --wait` against it, checks that every
# service exported spans, and takes the stack down. Prints the time each step took.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
compose=(docker-compose -p vigil-smoke -f "$root/deploy/compose/docker-compose.yml" -f "$here/smoke.override.yml")
say() { printf 'smoke: %s\n' "$*"; }
fail() { printf 'smoke: FAILED: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s)
step() { say "$1 ($(($(date +%s) - t0)) s)"; }

command -v docker >/dev/null || fail "docker is not installed (apt-get install docker.io)"
docker version >/dev/null 2>&1 || fail "no Docker engine answers (start dockerd)"
command -v docker-compose >/dev/null || fail "docker-compose is not installed (apt-get install docker-compose)"
[ -f "$root/cli/dist/main.js" ] || fail "build first: pnpm build"

if ! docker image inspect vigil-local/debian:bookworm >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
  step "debootstrap bookworm (minbase)"
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
  tar -C "$rootfs" -c . | docker import - vigil-local/debian:bookworm >/dev/null
  rm -rf "$rootfs"
fi

ctx=$(mktemp -d)
receiver_pid=""
cleanup() {
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  [ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null || true
  rm -rf "$ctx"
}
trap cleanup EXIT

step "building local base images (node, nats, postgres)"
node_bin=$(readlink -f "$(command -v node)")
cp "$node_bin" "$ctx/node"
cp -r "$(dirname "$node_bin")/../lib/node_modules/npm" "$ctx/npm"
cp "$(command -v nats-server || echo /usr/sbin/nats-server)" "$ctx/nats-server"
cp "$here"/*.Dockerfile "$here/postgres-entrypoint.sh" "$ctx/"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
docker build -q -f "$ctx/node.Dockerfile" -t vigil-local/node:20 "$ctx" >/dev/null
docker build -q -f "$ctx/nats.Dockerfile" -t vigil-local/nats:smoke "$ctx" >/dev/null
docker build -q -f "$ctx/postgres.Dockerfile" -t vigil-local/postgres:15 "$ctx" >/dev/null

step "building the vigil image from deploy/compose/Dockerfile"
docker build -q -f "$root/deploy/compose/Dockerfile" --build-arg NODE_BASE=vigil-local/node:20 -t vigil:smoke "$root" >/dev/null

step "starting an OTLP/HTTP receiver in place of Jaeger"
otlp_port=$(node -e "const s=require('net').createServer().listen(0,'0.0.0.0',()=>{console.log(s.address().port);s.close()})")
spans="$ctx/spans.jsonl"
node -e "
const fs=require('fs');
require('http').createServer((q,r)=>{let b='';q.on('data',d=>b+=d);q.on('end',()=>{
  try{for(const rs of JSON.parse(b).resourceSpans??[]){const svc=(rs.resource?.attributes??[]).find(a=>a.key==='service.name')?.value?.stringValue;
    for(const ss of rs.scopeSpans??[])for(const s of ss.spans??[])fs.appendFileSync('$spans',JSON.stringify({svc,name:s.name,traceId:s.traceId})+'\n');}}catch{}
  r.writeHead(200,{'content-type':'application/json'}).end('{}');});}).listen($otlp_port,'0.0.0.0');" &
receiver_pid=$!

export VIGIL_IMAGE=vigil:smoke NATS_IMAGE=vigil-local/nats:smoke POSTGRES_IMAGE=vigil-local/postgres:15
export POSTGRES_PASSWORD="smoke-$RANDOM$RANDOM" DOCKER_GID=$(stat -c %g /var/run/docker.sock)
for user in OUTBOX_RELAY VALIDATOR SLO_ENGINE ANOMALY CHAOS STATUS CLIENT OPERATOR TOOL ADMIN; do
  export "VIGIL_NATS_${user}_PASSWORD=smoke-$user-$RANDOM$RANDOM"
done
export VIGIL_OTLP_ENDPOINT="http://host.docker.internal:$otlp_port"
export VIGIL_NATS_PORT=14222 VIGIL_NATS_MONITOR_PORT=18222 VIGIL_JAEGER_UI_PORT=26686 VIGIL_OTLP_GRPC_PORT=14317 \
  VIGIL_OTLP_HTTP_PORT=14318 VIGIL_VALIDATOR_PORT=19470 VIGIL_SLO_ENGINE_PORT=19471 VIGIL_CHAOS_PORT=19472 \
  VIGIL_ANOMALY_PORT=19473 VIGIL_RELAY_PORT=19474 VIGIL_STATUS_PORT=19475

step "docker-compose up"
"${compose[@]}" up -d >/dev/null 2>&1 || { "${compose[@]}" logs --tail 30; fail "docker-compose up"; }
deadline=$(($(date +%s) + 180))
for s in docker-proxy outbox-relay validator slo-engine chaos anomaly status; do
  while :; do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$("${compose[@]}" ps -q "$s")" 2>/dev/null || echo missing)
    [ "$health" = healthy ] && break
    [ "$(date +%s)" -gt "$deadline" ] && { "${compose[@]}" logs --tail 40 "$s"; fail "$s is $health after 180 s"; }
    sleep 1
  done
done
step "every service healthy"

# Both shipped suites pass on the stack itself, at 8 or more (the chaos gate's minimum).
for suite in seed-phases vigil-self; do
  out=$(NATS_URL=nats://127.0.0.1:14222 NATS_USER=client NATS_PASSWORD=$VIGIL_NATS_CLIENT_PASSWORD node "$root/cli/dist/main.js" publish validation.requested --suite "$suite" --wait --timeout 90s) || {
    echo "$out"; "${compose[@]}" logs --tail 40 validator; fail "publish --suite $suite --wait"; }
  echo "$out" | sed 's/^/  /'
  echo "$out" | grep -Eq "^$suite: PASS, score (8\.[0-9]|9\.[0-9]|10\.0) of 10" || fail "$suite did not PASS at 8 or more"
done
step "validation.completed received"

# The status service follows the results: both suites are on its page within seconds.
status_deadline=$(($(date +%s) + 30))
until node -e "
  fetch('http://127.0.0.1:19475/api/status').then((r) => r.json()).then((o) => {
    const suites = o.suites.map((s) => s.name);
    process.exit(suites.includes('seed-phases') && suites.includes('vigil-self') ? 0 : 1);
  }, () => process.exit(1));"; do
  [ "$(date +%s)" -gt "$status_deadline" ] && { "${compose[@]}" logs --tail 40 status; fail "the status service does not show both suites"; }
  sleep 1
done
step "the status page shows both suites"

# The validator reads the engine through the proxy and can change nothing there.
"${compose[@]}" exec -T validator node -e "
  const p = 'http://docker-proxy:2375';
  Promise.all([fetch(p + '/containers/json'), fetch(p + '/containers/create', { method: 'POST', body: '{}' })])
    .then(([list, create]) => process.exit(list.status === 200 && create.status === 403 ? 0 : 1), () => process.exit(1));
" || fail "the validator's Docker proxy did not list (200) and refuse a create (403)"
"${compose[@]}" exec -T validator sh -c 'test ! -e /var/run/docker.sock' || fail "the validator holds the Docker socket"
step "the validator's Docker API is read-only (list 200, create 403, no socket)"

trace=$(echo "$out" | sed -n 's/^trace \([0-9a-f]\{32\}\).*/\1/p')
span_deadline=$(($(date +%s) + 60))
for svc in validator outbox-relay slo-engine anomaly; do
  until grep -q "\"svc\":\"$svc\".*\"traceId\":\"$trace\"" "$spans" 2>/dev/null; do
    [ "$(date +%s)" -gt "$span_deadline" ] && fail "no span of $svc in trace $trace"
    sleep 1
  done
done
step "spans of validator, outbox-relay, slo-engine and anomaly exported in trace $trace"
say "OK"
