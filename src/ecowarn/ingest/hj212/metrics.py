"""Prometheus metrics of the HJ 212 gateway, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Hj212Metrics"]

PACKET_RESULTS = ("accepted", "rejected", "ignored")
SPLIT_RESULTS = ("complete", "incomplete", "rejected")


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
    - ``ecowarn_hj212_sink_seconds``: time the sink took (backpressure shows here);
    - ``ecowarn_hj212_split_uploads_total{result}``: uploads split over several packets
      (PNUM/PNO): complete (stored), incomplete (dead-lettered as
      ``incomplete_split_packet``: timed out, evicted, or open at shutdown), rejected
      (complete but not storable, e.g. ``conflicting_split_packet``);
    - ``ecowarn_hj212_split_pending``: split uploads waiting for more parts.
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
        # Children resolved once: ``labels()`` takes a lock and a lookup on every call.
        self.accepted = self.packets.labels("accepted")
        self.rejected = self.packets.labels("rejected")
        self.ignored = self.packets.labels("ignored")
        self.bytes_in = self.bytes.labels("in")
        self.bytes_out = self.bytes.labels("out")
        self._replies_by_cn: dict[str, Counter] = {}
        self.sink_seconds = Histogram(
            "ecowarn_hj212_sink_seconds", "Time the ingest sink took per batch",
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30), registry=registry)
        self.split_uploads = Counter("ecowarn_hj212_split_uploads_total",
                                     "HJ 212 uploads split over several packets, by result",
                                     ["result"], registry=registry)
        for result in SPLIT_RESULTS:
            self.split_uploads.labels(result)
        self.split_pending = Gauge("ecowarn_hj212_split_pending",
                                   "Split uploads waiting for more parts", registry=registry)

    def replies_for(self, cn: str) -> Counter:
        """The ``replies_total`` child of ``cn`` (cached)."""
        child = self._replies_by_cn.get(cn)
        if child is None:
            child = self._replies_by_cn[cn] = self.replies.labels(cn)
        return child
