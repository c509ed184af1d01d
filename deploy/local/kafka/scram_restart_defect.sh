#!/usr/bin/env bash
# Kafka's defect of docs/decisions.md ("A broker that refuses every principal"), reproduced with nothing of ours:
# a single KRaft node formatted with one SCRAM-SHA-512 user (admin), a second user created and deleted with Kafka's
# own Java admin client, the node restarted. Affected versions then refuse the admin for as long as they run.
#
#   bash deploy/local/kafka/scram_restart_defect.sh [JAR_DIR]     (default: .cache/kafka-jars, which infra.sh fills)
#
# Prints "refused after the restart: the defect" or "let in after the restart", and exits 0 either way (1 when the
# experiment itself could not run). To try another Kafka release, fetch its jars into a directory first, e.g. with
# deploy/docker/kafka/pom.xml's <kafka.version> changed and `mvn -f pom.xml dependency:copy-dependencies
# -DoutputDirectory=DIR`. Needs java and javac (JDK 17+). Uses ports 39192-39193 and a temporary directory, removed
# at the end with the broker it started (KEEP=1 keeps the directory, with the broker's and the client's logs).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
JARS=${1:-$REPO_ROOT/.cache/kafka-jars}
compgen -G "$JARS/kafka_2.13-*.jar" >/dev/null || { echo "no Kafka jars in $JARS (run deploy/local/infra.sh up once)" >&2; exit 1; }
WORK=$(mktemp -d)
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill -9 "$PID" 2>/dev/null || true
  [[ -n "${KEEP:-}" ]] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
PASSWORD="admin-$RANDOM$RANDOM"
LOG4J="-Dlog4j2.configurationFile=$REPO_ROOT/deploy/local/kafka/log4j2.properties"

cat >"$WORK/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:39193
controller.listener.names=CONTROLLER
listeners=SASL_PLAINTEXT://127.0.0.1:39192,CONTROLLER://127.0.0.1:39193
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$PASSWORD";
log.dirs=$WORK/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
EOF

cat >"$WORK/Scram.java" <<'EOF'
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.*;

// Scram BOOTSTRAP PASSWORD churn|login: create and delete user "merchant-y", or log in as admin (exit 1 if refused).
public class Scram {
  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", a[0]);
    p.put("security.protocol", "SASL_PLAINTEXT");
    p.put("sasl.mechanism", "SCRAM-SHA-512");
    p.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"" + a[1] + "\";");
    p.put("request.timeout.ms", "10000");
    p.put("default.api.timeout.ms", "15000");
    try (Admin admin = Admin.create(p)) {
      if (a[2].equals("churn")) {
        ScramCredentialInfo info = new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096);
        admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion("merchant-y", info, "pw-y-123456"))).all().get();
        admin.alterUserScramCredentials(List.of(new UserScramCredentialDeletion("merchant-y", ScramMechanism.SCRAM_SHA_512))).all().get();
      } else {
        admin.describeCluster().clusterId().get(15, TimeUnit.SECONDS);
      }
    } catch (Exception e) {
      System.err.println(a[2] + ": " + e);
      System.exit(1);
    }
  }
}
EOF
javac -cp "$JARS/*" -d "$WORK" "$WORK/Scram.java"
scram() { java $LOG4J -cp "$WORK:$JARS/*" Scram 127.0.0.1:39192 "$PASSWORD" "$1" >>"$WORK/client.log" 2>&1; }

start() {
  java $LOG4J -Xmx512m -cp "$JARS/*" kafka.Kafka "$WORK/server.properties" >"$WORK/kafka.log" 2>&1 &
  PID=$!
  for _ in $(seq 120); do
    grep -q "Kafka Server started" "$WORK/kafka.log" && return 0
    kill -0 "$PID" 2>/dev/null || { tail -5 "$WORK/kafka.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "the broker did not start" >&2
  exit 1
}
stop() {
  kill "$PID"
  for _ in $(seq 120); do kill -0 "$PID" 2>/dev/null || { PID=""; return 0; }; sleep 0.25; done
  kill -9 "$PID"
  PID=""
}

version=$(basename "$(compgen -G "$JARS/kafka_2.13-*.jar" | head -1)" .jar)
java $LOG4J -cp "$JARS/*" kafka.tools.StorageTool format -t "$(java $LOG4J -cp "$JARS/*" kafka.tools.StorageTool random-uuid)" \
  -c "$WORK/server.properties" --add-scram "SCRAM-SHA-512=[name=admin,password=$PASSWORD]" >"$WORK/format.log" 2>&1
start
scram login || { echo "$version: the admin was refused before anything was deleted: the experiment is broken" >&2; exit 1; }
scram churn || { echo "$version: could not create and delete merchant-y" >&2; exit 1; }
stop
start
if scram login; then
  echo "$version: let in after the restart"
else
  echo "$version: refused after the restart: the defect (docs/decisions.md, \"A broker that refuses every principal\")"
fi
