"""Prometheus metrics of the boards component (always on ``services.registry``)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class PollCounts(Collector):
    """Polls by result as plain integers, read at scrape time: the poll path pays one addition,
    not a locked metric update."""

    RESULTS = ("200", "304", "400", "401", "404")

    def __init__(self) -> None:
        self.counts = dict.fromkeys(self.RESULTS, 0)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("transit_board_polls", "Frame polls by result", labels=["result"])
        for result, n in self.counts.items():
            family.add_metric([result], n)
        yield family


class BoardMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.polls = PollCounts()
        registry.register(self.polls)
        self.rejections = Counter("transit_board_rejections_total",
                                  "Bad board input refused, by source and kind", ["source", "kind"],
                                  registry=registry)
        self.renders = Counter("transit_board_frames_rendered_total", "Board frames rendered",
                               registry=registry)
        self.mqtt_connected = Gauge("transit_mqtt_connected", "1 while connected to the MQTT broker",
                                    registry=registry)
        self.mqtt_published = Counter("transit_mqtt_frames_published_total",
                                      "Frames published to boards over MQTT (acknowledged by the broker)",
                                      registry=registry)
        self.mqtt_skipped = Counter("transit_mqtt_frames_unchanged_total",
                                    "Board frames checked and found unchanged (nothing published)",
                                    registry=registry)
        self.mqtt_errors = Counter("transit_mqtt_publish_errors_total", "Publishes that failed (to be retried)",
                                   registry=registry)
        self.mqtt_connects = Counter("transit_mqtt_connects_total", "Successful connections to the broker",
                                     registry=registry)
        self.mqtt_statuses = Counter("transit_mqtt_board_status_total", "Board status messages recorded",
                                     ["status"], registry=registry)
        self.mqtt_queue = Gauge("transit_mqtt_pending_frames", "Frames waiting for their turn to publish",
                                registry=registry)

    def reject(self, source: str, kind: str, count: int = 1) -> None:
        self.rejections.labels(source, kind).inc(count)
