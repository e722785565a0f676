"""Prometheus metrics of the HJ 212 gateway, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Hj212Metrics"]

PACKET_RESULTS = ("accepted", "rejected", "ignored")


class Hj212Metrics:
    """Counters and gauges of the gateway; tests pass a fresh ``CollectorRegistry``.

    - ``ecowarn_hj212_packets_total{result}``: accepted (stored or acknowledged),
      rejected (dead-lettered; framing errors included), ignored (valid but
      nothing to store: answers, run-hour uploads...);
    - ``ecowarn_hj212_rejections_total{reason}``: rejections by reason code;
    - ``ecowarn_hj212_rows_total``: rows handed to the sink;
    - ``ecowarn_hj212_skipped_fields_total{reason}``: CP fields not stored
      (ignored_field, unknown_code, bad_value, bad_value_flag, duplicate_metric);
    - ``ecowarn_hj212_connections``: open connections;
    - ``ecowarn_hj212_connections_closed_total{cause}``;
    - ``ecowarn_hj212_bytes_total{direction}``: in / out;
    - ``ecowarn_hj212_replies_total{cn}``: answers sent (9011, 9013, 9014);
    - ``ecowarn_hj212_sink_seconds``: time the sink took (backpressure shows here).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.packets = Counter("ecowarn_hj212_packets_total", "HJ 212 packets by result",
                               ["result"], registry=registry)
        for result in PACKET_RESULTS:
            self.packets.labels(result)
        self.rejections = Counter("ecowarn_hj212_rejections_total",
                                  "HJ 212 inputs dead-lettered, by reason", ["reason"],
                                  registry=registry)
        self.rows = Counter("ecowarn_hj212_rows_total", "Rows handed to the ingest pipeline",
                            registry=registry)
        self.skipped_fields = Counter("ecowarn_hj212_skipped_fields_total",
                                      "CP fields not stored, by reason", ["reason"],
                                      registry=registry)
        self.connections = Gauge("ecowarn_hj212_connections", "Open HJ 212 connections",
                                 registry=registry)
        self.connections_opened = Counter("ecowarn_hj212_connections_opened_total",
                                          "HJ 212 connections accepted", registry=registry)
        self.connections_closed = Counter("ecowarn_hj212_connections_closed_total",
                                          "HJ 212 connections closed, by cause", ["cause"],
                                          registry=registry)
        self.bytes = Counter("ecowarn_hj212_bytes_total", "Bytes received and sent",
                             ["direction"], registry=registry)
        self.replies = Counter("ecowarn_hj212_replies_total", "Answers sent, by CN", ["cn"],
                               registry=registry)
        self.sink_seconds = Histogram(
            "ecowarn_hj212_sink_seconds", "Time the ingest sink took per batch",
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30), registry=registry)
