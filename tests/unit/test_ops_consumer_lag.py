"""The dashboard's lag reader while the broker is away (services/ops/consumer_lag.py): the dashboard starts it again
at every tick, so a start that fails must leave no Kafka client behind."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError

from services.ops.consumer_lag import ConsumerLag
from tests.support.leaks import unclosed
from tests.support.ports import free_port


async def test_a_lag_reader_that_cannot_reach_the_broker_leaves_no_client_open() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    with unclosed() as leaks:
        for _tick in range(3):
            reader = ConsumerLag(bootstrap, ["issuance"])
            with pytest.raises(KafkaConnectionError):
                await reader.start()
            del reader
    assert leaks == []
