#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft) on 127.0.0.1 for development and tests.
#
#   scripts/kafka.sh start|stop|status
#
# Environment: KAFKA_PORT (default 9092), KAFKA_CONTROLLER_PORT (default port+1),
# KAFKA_DATA_DIR (default .cache/kafka/data-$KAFKA_PORT), KAFKA_LIBS_DIR (the
# broker's jars, default .cache/kafka/libs). With KAFKA_SECURE_PORT
# set, a second listener there speaks SASL_SSL (PLAIN, SCRAM-SHA-256 and
# SCRAM-SHA-512 for the users in KAFKA_SASL_USERS, "name:password,..."; default
# driftwatch:driftwatch-secret) with a self-signed certificate for 127.0.0.1
# made on first start; its PEM is $KAFKA_DATA_DIR/tls/ca.pem, the file to give
# clients as their CA (driftwatch: KAFKA_SSL_CA_FILE). With KAFKA_MTLS_PORT
# set as well, a third listener there speaks TLS and requires a client
# certificate: the one made at $KAFKA_DATA_DIR/tls/client.pem (key in
# client-key.pem, by openssl) is the one it trusts. The broker and its
# dependencies come from Maven Central (official Apache artifacts, fetched once
# with Maven into the git-ignored .cache/kafka/libs).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
data="${KAFKA_DATA_DIR:-$root/.cache/kafka/data-$port}"
secure_port="${KAFKA_SECURE_PORT:-}"
mtls_port="${KAFKA_MTLS_PORT:-}"
sasl_users="${KAFKA_SASL_USERS:-driftwatch:driftwatch-secret}"
libs="${KAFKA_LIBS_DIR:-$root/.cache/kafka/libs}"
pidfile="$data/broker.pid"

# What the broker needs from the machine, checked before anything starts so
# that a missing one is one line naming the fix, not a stack of errors.
need() {
  command -v "$1" > /dev/null 2>&1 && return 0
  echo "kafka.sh: $2 is needed and \`$1\` is not on PATH: $3" >&2
  exit 1
}
need_java() { need java "Java 17 or newer (to run the broker)" "install it, e.g. apt-get install openjdk-17-jre-headless"; }
need_maven() { need mvn "Maven (to fetch the broker from Maven Central, once)" "install it, e.g. apt-get install maven"; }

fetch() {
  mkdir -p "$libs"
  # Test files start brokers in parallel: one fetch at a time, the others wait for it.
  exec 9>"$libs.lock"
  flock 9
  if [ ! -f "$libs/.complete" ]; then
    need_maven
    (cd "$root/scripts/kafka" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$libs")
    touch "$libs/.complete"
  fi
  flock -u 9
}

# The SASL_SSL listener's certificate and settings, appended to server.properties.
secure_listener() {
  local tls="$data/tls" pass="driftwatch-test-keystore"
  if [ ! -f "$tls/broker.p12" ]; then
    mkdir -p "$tls"
    keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 30 -dname "CN=127.0.0.1" \
      -ext "SAN=IP:127.0.0.1,DNS:localhost" -keystore "$tls/broker.p12" -storetype PKCS12 \
      -storepass "$pass" -keypass "$pass" > "$data/keytool.log" 2>&1
    keytool -exportcert -rfc -alias broker -keystore "$tls/broker.p12" -storepass "$pass" -file "$tls/ca.pem" >> "$data/keytool.log" 2>&1
  fi
  local plain_users="" user
  for user in ${sasl_users//,/ }; do plain_users="$plain_users user_${user%%:*}=\"${user#*:}\""; done
  cat >> "$data/server.properties" <<PROPS
listener.name.secure.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.secure.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;
listener.name.secure.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secure.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secure.ssl.keystore.location=$tls/broker.p12
listener.name.secure.ssl.keystore.type=PKCS12
listener.name.secure.ssl.keystore.password=$pass
listener.name.secure.ssl.key.password=$pass
PROPS
  [ -n "$mtls_port" ] || return 0
  if [ ! -f "$tls/truststore.p12" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=driftwatch-client" \
      -keyout "$tls/client-key.pem" -out "$tls/client.pem" >> "$data/keytool.log" 2>&1
    keytool -importcert -noprompt -alias client -file "$tls/client.pem" -keystore "$tls/truststore.p12" \
      -storetype PKCS12 -storepass "$pass" >> "$data/keytool.log" 2>&1
  fi
  cat >> "$data/server.properties" <<PROPS
listener.name.mtls.ssl.client.auth=required
listener.name.mtls.ssl.keystore.location=$tls/broker.p12
listener.name.mtls.ssl.keystore.type=PKCS12
listener.name.mtls.ssl.keystore.password=$pass
listener.name.mtls.ssl.key.password=$pass
listener.name.mtls.ssl.truststore.location=$tls/truststore.p12
listener.name.mtls.ssl.truststore.type=PKCS12
listener.name.mtls.ssl.truststore.password=$pass
PROPS
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
  if running; then echo "kafka already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; return 0; fi
  need_java
  [ -f "$libs/.complete" ] || need_maven
  fetch
  mkdir -p "$data/logs"
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  if [ -n "$secure_port" ]; then
    listeners="$listeners,SECURE://127.0.0.1:$secure_port"
    advertised="$advertised,SECURE://127.0.0.1:$secure_port"
    if [ -n "$mtls_port" ]; then
      listeners="$listeners,MTLS://127.0.0.1:$mtls_port"
      advertised="$advertised,MTLS://127.0.0.1:$mtls_port"
    fi
  fi
  cat > "$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL,MTLS:SSL
log.dirs=$data/logs
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
message.max.bytes=16777216
PROPS
  cat > "$data/log4j2.properties" <<'LOG'
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
LOG
  local java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC "-Dlog4j2.configurationFile=$data/log4j2.properties" -cp "$libs/*")
  local scram=()
  if [ -n "$secure_port" ]; then
    secure_listener
    local user
    for user in ${sasl_users//,/ }; do
      scram+=(--add-scram "SCRAM-SHA-256=[name=${user%%:*},password=${user#*:}]" --add-scram "SCRAM-SHA-512=[name=${user%%:*},password=${user#*:}]")
    done
  fi
  if [ ! -f "$data/logs/meta.properties" ]; then
    java "${java_opts[@]}" kafka.tools.StorageTool format -t "$(java "${java_opts[@]}" kafka.tools.StorageTool random-uuid)" -c "$data/server.properties" "${scram[@]}" > "$data/format.log" 2>&1
  fi
  nohup java "${java_opts[@]}" kafka.Kafka "$data/server.properties" > "$data/broker.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "kafka running on 127.0.0.1:$port (pid $(cat "$pidfile"), data $data)"; return 0; fi
    if ! running; then echo "kafka failed to start; see $data/broker.log" >&2; tail -20 "$data/broker.log" >&2; return 1; fi
    sleep 0.5
  done
  echo "kafka did not open 127.0.0.1:$port within 60 s; see $data/broker.log" >&2
  return 1
}

stop() {
  if ! running; then echo "kafka not running on port $port"; rm -f "$pidfile"; return 0; fi
  local pid; pid="$(cat "$pidfile")"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "kafka stopped"; return 0; }; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "kafka killed after 30 s"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running (pid $(cat "$pidfile"))"; else echo "stopped"; exit 1; fi ;;
  fetch) fetch ;;
  *) echo "usage: $0 start|stop|status|fetch" >&2; exit 2 ;;
esac
