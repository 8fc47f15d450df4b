"""Apache Pinot's settings: version, ports and heaps, each overridable from the environment.

Kept apart from StackConfig (which holds one `pinot` field) so Pinot's knobs stay in one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class PinotConfig:
    # The newest complete Pinot release that Maven Central serves here: pinot-tools and
    # pinot-server stop at 0.11.0 (controller and broker exist at 1.5.1, a server does not).
    version: str = "0.11.0"
    cluster: str = "PinotCluster"
    zk_port: int = 2181
    controller_port: int = 9000
    broker_port: int = 8099
    server_port: int = 8098  # Netty query port; Pinot binds it on every interface
    server_admin_port: int = 8097
    zk_heap_mb: int = 128
    controller_heap_mb: int = 384
    broker_heap_mb: int = 256
    server_heap_mb: int = 512

    @classmethod
    def from_env(cls) -> PinotConfig:
        d = cls()
        return cls(
            version=os.environ.get("PAGEVIEWS_PINOT_VERSION") or d.version,
            zk_port=_env_int("PAGEVIEWS_PINOT_ZK_PORT", d.zk_port),
            controller_port=_env_int("PAGEVIEWS_PINOT_CONTROLLER_PORT", d.controller_port),
            broker_port=_env_int("PAGEVIEWS_PINOT_BROKER_PORT", d.broker_port),
            server_port=_env_int("PAGEVIEWS_PINOT_SERVER_PORT", d.server_port),
            server_admin_port=_env_int("PAGEVIEWS_PINOT_SERVER_ADMIN_PORT", d.server_admin_port),
            zk_heap_mb=_env_int("PAGEVIEWS_PINOT_ZK_HEAP_MB", d.zk_heap_mb),
            controller_heap_mb=_env_int("PAGEVIEWS_PINOT_CONTROLLER_HEAP_MB", d.controller_heap_mb),
            broker_heap_mb=_env_int("PAGEVIEWS_PINOT_BROKER_HEAP_MB", d.broker_heap_mb),
            server_heap_mb=_env_int("PAGEVIEWS_PINOT_SERVER_HEAP_MB", d.server_heap_mb),
        )

    def ports(self) -> dict[str, list[int]]:
        """Ports of each Pinot service, first the one that answers health checks."""
        return {
            "pinot-zookeeper": [self.zk_port],
            "pinot-controller": [self.controller_port],
            "pinot-broker": [self.broker_port],
            "pinot-server": [self.server_admin_port, self.server_port],
        }
