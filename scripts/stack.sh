#!/usr/bin/env bash
# Local test stack for trailscope: a real OpenSearch 2.19 node (the minimal distribution from Maven
# Central) and a moto server as the CloudWatch Logs API, both on loopback only.
#
#   scripts/stack.sh up       install what is missing into .cache/, start what is not running, wait
#   scripts/stack.sh down     stop every service the scripts started from this .cache/: this
#                             stack, the extra nodes (faults 19230, bench 19240), the secured node
#                             (19210) and bench.sh's moto (15040); nothing else
#   scripts/stack.sh status   every one of them: running (pid), stopped, or a port that answers
#                             for a process this .cache/ did not start
#   scripts/stack.sh env      print the environment the tests and the demo read (eval-able)
#   scripts/stack.sh node-up NAME HTTP_PORT TRANSPORT_PORT [HEAP] [yml line ...]
#                             start an extra single node (for fault tests: tiny queues, stop/start)
#   scripts/stack.sh node-down NAME   stop that node (its data stays for the next node-up)
#   scripts/stack.sh node-kill NAME   kill -9 that node (a crash, for fault tests)
#
# Everything lives under .cache/ (git-ignored): downloads, the venv, data, logs and PID files, so a
# second `up` is fast and reuses running services.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${TRAILSCOPE_CACHE:-$ROOT/.cache}
OPENSEARCH_VERSION=${OPENSEARCH_VERSION:-2.19.1}
MOTO_VERSION=${MOTO_VERSION:-5.2.5}
OS_HTTP_PORT=${TRAILSCOPE_OS_PORT:-19200}
OS_TRANSPORT_PORT=${TRAILSCOPE_OS_TRANSPORT_PORT:-19300}
OS_HEAP=${TRAILSCOPE_OS_HEAP:-768m}
MOTO_PORT=${TRAILSCOPE_MOTO_PORT:-15000}
# OpenSearch refuses to run as root; sessions and CI are root, so it runs as this system user.
OS_USER=${TRAILSCOPE_OS_USER:-trailscope-os}

OS_HOME=$CACHE/opensearch-$OPENSEARCH_VERSION
OS_NODE=$CACHE/node                 # data, logs and config of the plain node (kept across runs)
VENV=$CACHE/venv
RUN=$CACHE/run
mkdir -p "$CACHE" "$RUN"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

java_home() {
  if [ -n "${OPENSEARCH_JAVA_HOME:-}" ]; then echo "$OPENSEARCH_JAVA_HOME"; return; fi
  local java
  java=$(command -v java) || die "java not found: OpenSearch 2.19 needs Java 17 (the minimal zip bundles no JDK)"
  dirname "$(dirname "$(readlink -f "$java")")"
}

install_opensearch() {
  [ -x "$OS_HOME/bin/opensearch" ] && return
  command -v mvn >/dev/null || die "mvn not found: it fetches OpenSearch from Maven Central"
  local dl=$CACHE/downloads
  local zip=$dl/opensearch-$OPENSEARCH_VERSION.zip
  if [ ! -s "$zip" ]; then
    log "fetching OpenSearch $OPENSEARCH_VERSION (integ-test-zip) from Maven Central"
    mkdir -p "$dl"
    mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
      -Dartifact="org.opensearch.distribution.integ-test-zip:opensearch:$OPENSEARCH_VERSION:zip" \
      -DoutputDirectory="$dl" -Dmdep.stripVersion=false >&2
    mv "$dl/opensearch-$OPENSEARCH_VERSION.zip" "$zip" 2>/dev/null || true
  fi
  log "unpacking OpenSearch"
  local tmp=$CACHE/unpack.$$
  rm -rf "$tmp" && mkdir -p "$tmp"
  (cd "$tmp" && unzip -q "$zip")
  mv "$tmp"/opensearch-* "$OS_HOME"
  rm -rf "$tmp"
}

ensure_user() {
  [ "$(id -u)" = 0 ] || return 0
  id "$OS_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$OS_USER"
}

as_os_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$OS_USER" -- "$@"; else "$@"; fi
}

# Writes a node's config folder. $1 = node dir, $2 = http port, $3 = transport port, $4.. = extra yml lines
write_node_config() {
  local node=$1 http=$2 transport=$3; shift 3
  mkdir -p "$node/data" "$node/logs" "$node/config"
  cp -r "$OS_HOME/config/." "$node/config/"
  {
    echo "cluster.name: trailscope-test"
    echo "node.name: $(basename "$node")"
    echo "network.host: 127.0.0.1"
    echo "http.port: $http"
    echo "transport.port: $transport"
    echo "discovery.type: single-node"
    echo "path.data: $node/data"
    echo "path.logs: $node/logs"
    # Test machines have little free disk sometimes; a watermark must not turn indices read-only.
    echo "cluster.routing.allocation.disk.threshold_enabled: false"
    echo "action.auto_create_index: true"
    for line in "$@"; do echo "$line"; done
  } > "$node/config/opensearch.yml"
}

# Starts an OpenSearch node. $1 = node dir, $2 = http port, $3 = pid file
start_node() {
  local node=$1 http=$2 pidfile=$3
  local jh; jh=$(java_home)
  if [ "$(id -u)" = 0 ]; then chown -R "$OS_USER" "$node" "$OS_HOME"; fi
  log "starting OpenSearch on 127.0.0.1:$http (heap $OS_HEAP, logs in $node/logs)"
  as_os_user env OPENSEARCH_JAVA_HOME="$jh" OPENSEARCH_PATH_CONF="$node/config" \
    OPENSEARCH_JAVA_OPTS="-Xms$OS_HEAP -Xmx$OS_HEAP" \
    "$OS_HOME/bin/opensearch" -d -p "$pidfile" > "$node/logs/stdout.log" 2>&1 \
    || { cat "$node/logs/stdout.log" >&2; die "OpenSearch did not start"; }
}

wait_green() {
  local url=$1 name=$2 i
  for i in $(seq 1 180); do
    if curl -fsS "$url/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then
      log "$name is up at $url"; return 0
    fi
    sleep 1
  done
  die "$name did not become healthy at $url within 180 s (see its logs under $CACHE)"
}

up_opensearch() {
  local pidfile=$RUN/opensearch.pid url=http://127.0.0.1:$OS_HTTP_PORT
  if alive "$pidfile"; then log "OpenSearch already running (pid $(cat "$pidfile"))"; wait_green "$url" OpenSearch; return; fi
  if curl -fsS "$url" >/dev/null 2>&1; then die "port $OS_HTTP_PORT answers but not our OpenSearch: set TRAILSCOPE_OS_PORT"; fi
  install_opensearch
  ensure_user
  write_node_config "$OS_NODE" "$OS_HTTP_PORT" "$OS_TRANSPORT_PORT"
  rm -f "$pidfile"; touch "$pidfile"
  if [ "$(id -u)" = 0 ]; then chown "$OS_USER" "$pidfile"; chown "$OS_USER" "$RUN"; fi
  start_node "$OS_NODE" "$OS_HTTP_PORT" "$pidfile"
  wait_green "$url" OpenSearch
}

install_moto() {
  [ -x "$VENV/bin/moto_server" ] && return
  log "installing moto[server]==$MOTO_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" boto3 >&2
}

up_moto() {
  local pidfile=$RUN/moto.pid url=http://127.0.0.1:$MOTO_PORT
  if alive "$pidfile"; then log "moto already running (pid $(cat "$pidfile"))"; return; fi
  install_moto
  log "starting moto on 127.0.0.1:$MOTO_PORT"
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > "$RUN/moto.log" 2>&1 &
  echo $! > "$pidfile"
  local i
  for i in $(seq 1 60); do
    if curl -fsS "$url/moto-api/" >/dev/null 2>&1; then log "moto is up at $url"; return 0; fi
    alive "$pidfile" || { cat "$RUN/moto.log" >&2; die "moto exited"; }
    sleep 0.5
  done
  die "moto did not answer at $url within 30 s (see $RUN/moto.log)"
}

# A process started from this cache: its command line names a path under it (the OpenSearch
# install, the venv). What another checkout or another tool runs on the same port is left alone.
# (.cache may be a symbolic link: both spellings count.)
ours() {
  [ -r "/proc/$1/cmdline" ] || return 1
  local cmdline; cmdline=$(tr '\0' ' ' < "/proc/$1/cmdline")
  [[ "$cmdline" == *"$CACHE/"* || "$cmdline" == *"$(cd "$CACHE" && pwd -P)/"* ]]
}

# The process listening on 127.0.0.1:$1, if any (needs to see the process: root, or its owner).
listener() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }

answers() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# Every service the scripts start, one per line: NAME PORT PIDFILE ("-": none is written).
# The pid file is the record; the port finds one whose record is gone (bench.sh's own moto writes
# none, a script killed midway leaves none). Ports: tests/faults.rs (faults), scripts/bench.sh
# (bench, its moto), scripts/secured-node.sh (secured).
services() {
  echo "opensearch $OS_HTTP_PORT $RUN/opensearch.pid"
  echo "moto $MOTO_PORT $RUN/moto.pid"
  echo "secured-opensearch ${TRAILSCOPE_SECURED_PORT:-19210} $CACHE/secured/opensearch.pid"
  echo "node-faults 19230 $RUN/node-faults.pid"
  echo "node-bench ${BENCH_OS_PORT:-19240} $RUN/node-bench.pid"
  echo "moto-bench ${BENCH_MOTO_PORT:-15040} -"
  # Any other node made with node-up.
  local yml name port
  for yml in "$CACHE"/nodes/*/config/opensearch.yml; do
    [ -f "$yml" ] || continue
    name=$(basename "$(dirname "$(dirname "$yml")")")
    case "$name" in faults|bench) continue ;; esac
    port=$(sed -n 's/^http.port: //p' "$yml")
    echo "node-$name ${port:--} $RUN/node-$name.pid"
  done
}

# The pid of a service of ours: from its pid file, else the listener on its port if it is ours.
service_pid() {
  local port=$1 pidfile=$2 pid
  if [ "$pidfile" != - ] && alive "$pidfile"; then cat "$pidfile"; return; fi
  [ "$port" != - ] || return 0
  pid=$(listener "$port")
  if [ -n "$pid" ] && ours "$pid"; then echo "$pid"; fi
}

stop_pid() {
  local name=$1 pid=$2
  log "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  log "$name did not stop within 30 s: SIGKILL"
  kill -9 "$pid" 2>/dev/null || true
}

stop() {
  local name=$1 pidfile=$RUN/$1.pid
  if alive "$pidfile"; then stop_pid "$name" "$(cat "$pidfile")"; fi
  rm -f "$pidfile"
}

down() {
  local name port pidfile pid
  while read -r name port pidfile; do
    pid=$(service_pid "$port" "$pidfile")
    [ -n "$pid" ] && stop_pid "$name" "$pid"
    [ "$pidfile" = - ] || rm -f "$pidfile"
  done < <(services)
  return 0
}

print_env() {
  echo "export TRAILSCOPE_TEST_OPENSEARCH_URL=http://127.0.0.1:$OS_HTTP_PORT"
  echo "export TRAILSCOPE_TEST_CLOUDWATCH_URL=http://127.0.0.1:$MOTO_PORT"
  echo "export TRAILSCOPE_TEST_VENV=$VENV"
}

status() {
  local name port pidfile pid other
  while read -r name port pidfile; do
    pid=$(service_pid "$port" "$pidfile")
    if [ -n "$pid" ]; then
      echo "$name: running on 127.0.0.1:$port (pid $pid)"
    elif [ "$port" != - ] && answers "$port"; then
      other=$(listener "$port")
      echo "$name: stopped here, but 127.0.0.1:$port answers (pid ${other:-unknown}, not started from $CACHE)"
    else
      echo "$name: stopped (port $port)"
    fi
  done < <(services)
  print_env
}

# An extra node with its own ports, data and settings, e.g. a tiny write queue for 429 tests.
node_up() {
  local name=$1 http=$2 transport=$3 heap=${4:-512m}; shift 4 || shift $#
  local node=$CACHE/nodes/$name pidfile=$RUN/node-$name.pid url=http://127.0.0.1:$http
  if alive "$pidfile"; then wait_green "$url" "node $name"; return; fi
  if curl -fsS "$url" >/dev/null 2>&1; then die "port $http answers but not our node $name"; fi
  install_opensearch
  ensure_user
  write_node_config "$node" "$http" "$transport" "$@"
  rm -f "$pidfile"; touch "$pidfile"
  if [ "$(id -u)" = 0 ]; then chown "$OS_USER" "$pidfile" "$RUN"; fi
  OS_HEAP=$heap start_node "$node" "$http" "$pidfile"
  wait_green "$url" "node $name"
}

case "${1:-}" in
  up) up_moto; up_opensearch ;;
  node-up) shift; [ $# -ge 3 ] || { echo "usage: $0 node-up NAME HTTP_PORT TRANSPORT_PORT [HEAP] [yml line ...]" >&2; exit 2; }; node_up "$@" ;;
  node-down) [ -n "${2:-}" ] || { echo "usage: $0 node-down NAME" >&2; exit 2; }; stop "node-$2" ;;
  node-kill) [ -n "${2:-}" ] || { echo "usage: $0 node-kill NAME" >&2; exit 2; }
    if alive "$RUN/node-$2.pid"; then kill -9 "$(cat "$RUN/node-$2.pid")"; log "killed node $2 (SIGKILL)"; fi
    rm -f "$RUN/node-$2.pid" ;;
  down) down ;;
  status) status ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
