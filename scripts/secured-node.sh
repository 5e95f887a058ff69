#!/usr/bin/env bash
# A second, secured OpenSearch 2.19 node for the tests of issue 12 (TLS, basic authentication,
# least-privilege roles): the minimal distribution from Maven Central plus the security plugin
# (also from Maven Central), configured with the plugin's own demo TLS certificates. It has its own
# install, data folder and loopback ports; the plain node of scripts/stack.sh is left alone.
#
#   scripts/secured-node.sh up       install what is missing into .cache/, start it unless it runs,
#                                    wait until it accepts the admin user (safe to run concurrently)
#   scripts/secured-node.sh down     stop it (by recorded PID), nothing else
#   scripts/secured-node.sh status   whether it runs, and its environment
#   scripts/secured-node.sh env      print the environment the tests read (eval-able)
#
# The admin password is generated once per machine and kept in .cache/secured/admin-password
# (mode 600, git-ignored); `env` prints the path of that file, never the password.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${TRAILSCOPE_CACHE:-$ROOT/.cache}
OPENSEARCH_VERSION=${OPENSEARCH_VERSION:-2.19.1}
SECURITY_VERSION=${SECURITY_VERSION:-$OPENSEARCH_VERSION.0}
HTTP_PORT=${TRAILSCOPE_SECURED_PORT:-19210}
TRANSPORT_PORT=${TRAILSCOPE_SECURED_TRANSPORT_PORT:-19310}
HEAP=${TRAILSCOPE_SECURED_HEAP:-640m}
# OpenSearch refuses to run as root; sessions and CI are root, so it runs as this system user.
OS_USER=${TRAILSCOPE_OS_USER:-trailscope-os}

DL=$CACHE/downloads
BASE=$CACHE/secured                       # everything of the secured node
HOME_DIR=$BASE/opensearch-$OPENSEARCH_VERSION
DATA=$BASE/data
LOGS=$BASE/logs
PIDFILE=$BASE/opensearch.pid
PASSWORD_FILE=$BASE/admin-password
LOCK=$BASE/lock
URL=https://localhost:$HTTP_PORT
mkdir -p "$BASE"

log() { printf '[secured-node] %s\n' "$*" >&2; }
die() { printf '[secured-node] error: %s\n' "$*" >&2; exit 1; }

alive() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

java_home() {
  if [ -n "${OPENSEARCH_JAVA_HOME:-}" ]; then echo "$OPENSEARCH_JAVA_HOME"; return; fi
  local java
  java=$(command -v java) || die "java not found: OpenSearch 2.19 needs Java 17 (the minimal zip bundles no JDK)"
  dirname "$(dirname "$(readlink -f "$java")")"
}

fetch() { # $1 = Maven artifact, $2 = file name it lands as
  [ -s "$DL/$2" ] && return
  command -v mvn >/dev/null || die "mvn not found: it fetches OpenSearch from Maven Central"
  mkdir -p "$DL"
  log "fetching $1 from Maven Central"
  mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
    -Dartifact="$1" -DoutputDirectory="$DL" -Dmdep.stripVersion=false >&2
  [ -s "$DL/$2" ] || die "$1 did not land as $DL/$2"
}

ensure_user() {
  [ "$(id -u)" = 0 ] || return 0
  id "$OS_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$OS_USER"
}

as_os_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$OS_USER" -- "$@"; else "$@"; fi
}

# A strong password (upper, lower, digit, symbol; the security plugin rejects weak ones), once.
ensure_password() {
  [ -s "$PASSWORD_FILE" ] && return
  local random
  random=$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')
  (umask 077 && printf 'Ts-%s-9a!' "$random" > "$PASSWORD_FILE.tmp")
  mv "$PASSWORD_FILE.tmp" "$PASSWORD_FILE"
}

# Unpacks the distribution, installs the security plugin and the demo configuration, once.
install() {
  [ -f "$HOME_DIR/.trailscope-configured" ] && return
  fetch "org.opensearch.distribution.integ-test-zip:opensearch:$OPENSEARCH_VERSION:zip" "opensearch-$OPENSEARCH_VERSION.zip"
  fetch "org.opensearch.plugin:opensearch-security:$SECURITY_VERSION:zip" "opensearch-security-$SECURITY_VERSION.zip"
  local jh; jh=$(java_home)
  rm -rf "$HOME_DIR"
  local tmp=$BASE/unpack.$$
  rm -rf "$tmp" && mkdir -p "$tmp"
  log "unpacking OpenSearch $OPENSEARCH_VERSION into $HOME_DIR"
  (cd "$tmp" && unzip -q "$DL/opensearch-$OPENSEARCH_VERSION.zip")
  mv "$tmp"/opensearch-* "$HOME_DIR"
  rm -rf "$tmp"
  log "installing the security plugin $SECURITY_VERSION"
  OPENSEARCH_JAVA_HOME=$jh "$HOME_DIR/bin/opensearch-plugin" install --batch \
    "file://$DL/opensearch-security-$SECURITY_VERSION.zip" >&2
  {
    echo "cluster.name: trailscope-secured-test"
    echo "node.name: secured-0"
    echo "network.host: 127.0.0.1"
    echo "http.port: $HTTP_PORT"
    echo "transport.port: $TRANSPORT_PORT"
    echo "discovery.type: single-node"
    echo "path.data: $DATA"
    echo "path.logs: $LOGS"
    echo "cluster.routing.allocation.disk.threshold_enabled: false"
    echo "action.auto_create_index: true"
  } > "$HOME_DIR/config/opensearch.yml"
  log "writing the demo TLS certificates and security configuration"
  chmod +x "$HOME_DIR/plugins/opensearch-security/tools/"*.sh
  OPENSEARCH_JAVA_HOME=$jh OPENSEARCH_INITIAL_ADMIN_PASSWORD=$(cat "$PASSWORD_FILE") \
    "$HOME_DIR/plugins/opensearch-security/tools/install_demo_configuration.sh" -y -i -s >&2 \
    || die "install_demo_configuration.sh failed"
  grep -q '^plugins.security.ssl.http.enabled: true' "$HOME_DIR/config/opensearch.yml" \
    || die "the demo configuration did not enable HTTPS in $HOME_DIR/config/opensearch.yml"
  touch "$HOME_DIR/.trailscope-configured"
}

# 0 once the node answers the admin user over verified TLS.
ready() {
  local code
  # The password goes through curl's config on stdin, not its command line (visible in `ps`).
  code=$(printf 'user = "admin:%s"\n' "$(cat "$PASSWORD_FILE")" \
    | curl -sS -o /dev/null -w '%{http_code}' -K - --max-time 3 --cacert "$HOME_DIR/config/root-ca.pem" \
      "$URL/_cluster/health?wait_for_status=yellow&timeout=2s" 2>/dev/null) || return 1
  [ "$code" = 200 ]
}

wait_ready() {
  local i
  for i in $(seq 1 240); do
    if ready; then log "secured OpenSearch is up at $URL"; return 0; fi
    # `opensearch -d` may return before it has written its PID file: an empty file is a start.
    if [ -s "$PIDFILE" ] && ! alive; then die "OpenSearch exited during start (see $LOGS)"; fi
    sleep 0.5
  done
  die "secured OpenSearch did not accept the admin user at $URL within 120 s (see $LOGS)"
}

up_locked() {
  ensure_password
  if alive; then ready || log "already running (pid $(cat "$PIDFILE")), waiting"; wait_ready; return; fi
  if curl -ksS --max-time 2 -o /dev/null "$URL" 2>/dev/null; then
    die "port $HTTP_PORT answers but not our secured node: set TRAILSCOPE_SECURED_PORT"
  fi
  install
  ensure_user
  mkdir -p "$DATA" "$LOGS"
  rm -f "$PIDFILE"; touch "$PIDFILE"
  if [ "$(id -u)" = 0 ]; then chown -R "$OS_USER" "$HOME_DIR" "$DATA" "$LOGS" "$PIDFILE"; fi
  local started=$SECONDS
  log "starting secured OpenSearch on 127.0.0.1:$HTTP_PORT (heap $HEAP, logs in $LOGS)"
  as_os_user env OPENSEARCH_JAVA_HOME="$(java_home)" OPENSEARCH_PATH_CONF="$HOME_DIR/config" \
    OPENSEARCH_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP" \
    "$HOME_DIR/bin/opensearch" -d -p "$PIDFILE" > "$LOGS/stdout.log" 2>&1 9>&- \
    || { cat "$LOGS/stdout.log" >&2; die "OpenSearch did not start"; }
  wait_ready
  log "ready $((SECONDS - started)) s after start"
}

up() {
  # Several test binaries call `up` at once: one starts, the others wait for it.
  exec 9>"$LOCK"
  flock 9
  up_locked
}

down() {
  if alive; then
    local pid; pid=$(cat "$PIDFILE")
    log "stopping secured OpenSearch (pid $pid)"
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

print_env() {
  echo "export TRAILSCOPE_TEST_SECURED_URL=$URL"
  echo "export TRAILSCOPE_TEST_SECURED_CA=$HOME_DIR/config/root-ca.pem"
  echo "export TRAILSCOPE_TEST_SECURED_PASSWORD_FILE=$PASSWORD_FILE"
}

case "${1:-}" in
  # The daemon must not inherit the lock's descriptor (it would hold the lock for its lifetime).
  up) up ;;
  down) down ;;
  status) if alive; then echo "secured opensearch: running (pid $(cat "$PIDFILE"))"; else echo "secured opensearch: stopped"; fi; print_env ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
