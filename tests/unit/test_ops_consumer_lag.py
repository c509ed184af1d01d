"""The dashboard's lag reader while the broker is away (services/ops/consumer_lag.py): the dashboard starts it again
at every tick, so a start that fails must leave no Kafka client behind."""

from __future__ import annotations

import gc
import socket
import warnings

import pytest
from aiokafka.errors import KafkaConnectionError

from services.ops.consumer_lag import ConsumerLag


def a_port_nobody_listens_on() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_lag_reader_that_cannot_reach_the_broker_leaves_no_client_open() -> None:
    bootstrap = f"127.0.0.1:{a_port_nobody_listens_on()}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _tick in range(3):
            reader = ConsumerLag(bootstrap, ["issuance"])
            with pytest.raises(KafkaConnectionError):
                await reader.start()
            del reader
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
