"""Child process for the contract suite: consume one message, print "got <body>", never settle.

    python consume_and_hang.py embedded <sqlite-db-path> <queue>
    python consume_and_hang.py rabbitmq <amqp-url> <queue> [<prefix> [<queue-type>]]

The test kills it with SIGKILL, so the message is left unacknowledged by a dead consumer.
"""

from __future__ import annotations

import sys
import threading

from hub.brokers.base import Broker, Delivery


def make_broker(kind: str, target: str, prefix: str, queue_type: str) -> Broker:
    if kind == "embedded":
        from hub.brokers.embedded import EmbeddedBroker
        from hub.store.db import make_engine

        return EmbeddedBroker(
            make_engine(f"sqlite:///{target}"), lease_seconds=2.0, poll_interval=0.02
        )
    from hub.brokers.rabbitmq import RabbitMQBroker

    return RabbitMQBroker(target, prefix=prefix, queue_type=queue_type)


def main() -> None:
    kind, target, queue = sys.argv[1:4]
    prefix = sys.argv[4] if len(sys.argv) > 4 else ""
    queue_type = sys.argv[5] if len(sys.argv) > 5 else "classic"
    forever = threading.Event()

    def handler(delivery: Delivery) -> None:
        sys.stdout.write(f"got {delivery.body.decode()}\n")  # one write: no interleaving
        sys.stdout.flush()
        forever.wait()

    make_broker(kind, target, prefix, queue_type).consume([queue], handler, prefetch=1)
    forever.wait()


if __name__ == "__main__":
    main()
