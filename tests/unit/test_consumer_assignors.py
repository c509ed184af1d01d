"""How a service's instances share a consumer group's partitions: all of one order's events to one instance."""

from __future__ import annotations

from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

from shared.infra.consumer import assignors
from shared.topics import (
    BANK_STATEMENTS,
    CATALOG,
    ISSUANCE_EVENTS,
    PAYMENT_EVENTS,
    REDEMPTION_EVENTS,
    REJECTIONS,
    SETTLEMENT_INSTRUCTIONS,
)

PARTITIONS = {topic.name: topic.partitions for topic in CATALOG}
SETTLEMENT_READS = (PAYMENT_EVENTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_INSTRUCTIONS, REJECTIONS,
                    BANK_STATEMENTS)  # fmt: skip
ORDER_KEYED = (PAYMENT_EVENTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS)  # keyed merchant/order, equally partitioned


class Cluster:
    """The broker's metadata as an assignor reads it: each topic's partitions, from the platform's catalog."""

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(PARTITIONS[topic]))


def shares(assignor: type[AbstractPartitionAssignor], instances: int) -> list[dict[str, list[int]]]:
    """Each instance's partitions of each topic it reads."""
    members = {
        f"instance-{n}": ConsumerProtocolMemberMetadata(0, list(SETTLEMENT_READS), b"") for n in range(instances)
    }
    assigned = assignor.assign(Cluster(), members)
    return [{topic: partitions for topic, partitions in assigned[m].assignment} for m in sorted(assigned)]


def reads_each_order_whole(share: dict[str, list[int]]) -> bool:
    return len({tuple(share.get(topic, [])) for topic in ORDER_KEYED}) == 1


def test_the_order_keyed_topics_are_equally_partitioned_so_one_key_has_one_partition_number_in_all() -> None:
    assert len({PARTITIONS[topic] for topic in ORDER_KEYED}) == 1


def test_two_or_three_instances_of_a_service_each_read_the_same_partitions_of_every_order_keyed_topic() -> None:
    preferred = assignors(follows_senders=False)[0]
    for instances in (2, 3):
        for share in shares(preferred, instances):
            assert reads_each_order_whole(share), share
            assert share[PAYMENT_EVENTS]  # and every instance has a part of them


def test_the_client_s_default_would_send_an_order_s_redemption_events_to_another_instance() -> None:
    two = shares(RoundRobinPartitionAssignor, 2)
    assert not any(reads_each_order_whole(share) for share in two)


def test_a_group_in_a_rolling_upgrade_still_has_a_way_to_share_that_every_member_knows() -> None:
    assert RoundRobinPartitionAssignor in assignors(follows_senders=False)


def test_consumers_of_the_merchants_own_small_topics_deal_them_out_in_turn() -> None:
    assert assignors(follows_senders=True) == (RoundRobinPartitionAssignor,)
