"""Connection-level metrics of the JT/T 808 server, one set per registry.

Rejected frames and positions are counted in the shared ``transit_rejections_total{source="jt808"}``
(feeds.gps.metrics); these are what only a TCP server has: connections, message mix and the time
from a frame's arrival to its acknowledgement.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Message ids with their own label value; anything else is counted as "other".
_KNOWN_IDS = frozenset((0x0001, 0x0002, 0x0003, 0x0100, 0x0102, 0x0200, 0x0704))


def msg_label(msg_id: int) -> str:
    return f"0x{msg_id:04X}" if msg_id in _KNOWN_IDS else "other"


@dataclass(frozen=True, eq=False)
class Jt808Metrics:
    connections: Gauge
    opened: Counter
    refused: Counter
    closed: Counter
    messages: Counter
    ack_seconds: Histogram
    authenticated: Gauge


_lock = threading.Lock()
_metrics: weakref.WeakKeyDictionary[CollectorRegistry, Jt808Metrics] = weakref.WeakKeyDictionary()


def get_jt808_metrics(registry: CollectorRegistry) -> Jt808Metrics:
    with _lock:
        found = _metrics.get(registry)
        if found is None:
            found = Jt808Metrics(
                connections=Gauge("transit_jt808_connections", "Open JT/T 808 terminal connections",
                                  registry=registry),
                opened=Counter("transit_jt808_connections_opened", "JT/T 808 connections accepted",
                               registry=registry),
                refused=Counter("transit_jt808_connections_refused", "JT/T 808 connections refused",
                                ["reason"], registry=registry),
                closed=Counter("transit_jt808_connections_closed", "JT/T 808 connections closed, by reason",
                               ["reason"], registry=registry),
                messages=Counter("transit_jt808_messages", "JT/T 808 messages decoded, by message id",
                                 ["msg_id"], registry=registry),
                ack_seconds=Histogram(
                    "transit_jt808_ack_seconds",
                    "From a location frame's arrival to its 0x8001 being written (includes the commit)",
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0),
                    registry=registry),
                authenticated=Gauge("transit_jt808_terminals_authenticated",
                                    "Connections whose terminal has authenticated", registry=registry),
            )
            _metrics[registry] = found
        return found
