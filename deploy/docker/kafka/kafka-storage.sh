#!/usr/bin/env bash
# As in the official image: Kafka's storage tool. docker-compose.yml's entrypoint (scram-run) formats the storage
# with every principal's SCRAM credential through it, before the image's own start.
exec java -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
  -cp '/opt/kafka/libs/*' kafka.tools.StorageTool "$@"
