#!/usr/bin/env bash
# As in the official image: asks the broker for its API versions (a real request, so it answers only when the
# broker serves clients). Quiet logging, a small heap: compose runs it every few seconds as the health check.
exec java -Xmx64m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
  -cp '/opt/kafka/libs/*' org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
