"""What the chaos driver quotes of a broker that refused a service (deploy/chaos/driver.py): how the broker started and
published its metadata, and its refused handshakes counted, not one line each (a refusing broker writes thousands)."""

from __future__ import annotations

from pathlib import Path

from deploy.chaos.driver import broker_story

REFUSED = (
    "[2026-11-30T06:09:{s},885] INFO [SocketServer listenerType=BROKER, nodeId=1] Failed authentication with "
    "/127.0.0.1 (Authentication failed during authentication due to invalid credentials with SASL mechanism "
    "SCRAM-SHA-512) (org.apache.kafka.common.network.Selector)"
)
LINES = [
    "[2026-11-30T06:09:02,425] WARN [QuorumController id=1] Performing controller activation.",
    "[2026-11-30T06:09:03,356] INFO [MetadataLoader id=1] InitializeNewPublishers: initializing "
    "BrokerMetadataPublisher with a snapshot at offset 1171",
    "[2026-11-30T06:09:03,358] INFO [BrokerMetadataPublisher id=1] Publishing initial metadata at offset 1171",
    "[2026-11-30T06:09:07,783] INFO [KafkaRaftServer nodeId=1] Kafka Server started",
    "Kafka at 127.0.0.1:29092 accepted principal 'admin' (attempt 1)",
    "[2026-11-30T06:09:08,001] WARN [SomethingElse] unrelated chatter",
    REFUSED.format(s="10"),
    REFUSED.format(s="11"),
    REFUSED.format(s="12"),
]


def test_the_story_has_the_start_and_the_refusals_counted_from_first_to_last(tmp_path: Path) -> None:
    broker_log = tmp_path / "kafka.log"
    broker_log.write_text("\n".join(LINES))
    story = broker_story(broker_log).splitlines()
    assert story[:5] == LINES[:5]  # the start, the publishing, the admin let in; not the chatter
    assert story[5].startswith(
        "... 3 handshakes refused, the first at 2026-11-30T06:09:10,885, the last at 2026-11-30T06:09:12,885: "
    )
    assert len(story) == 6


def test_a_missing_or_silent_log_is_said_so(tmp_path: Path) -> None:
    assert broker_story(tmp_path / "kafka.log") == f"(no broker log at {tmp_path / 'kafka.log'})"
    (tmp_path / "kafka.log").write_text("[2026-11-30T06:09:08,001] WARN [SomethingElse] unrelated chatter\n")
    assert broker_story(tmp_path / "kafka.log").startswith("(nothing about its start or refusals in ")
