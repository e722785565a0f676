-- Partitioned detector runners (detectors/runtime/partition.py). Every key a pending_eval
-- row can carry (a device id, or an enterprise id for emergency orders) maps to the
-- partition of its enterprise, the air stations having a partition of their own. Runners
-- write the map from their registry when they start and claim pending_eval rows through
-- it; a key missing from the map (a device not in the registry) belongs to partition 0.
-- runner_layout holds the partition count the map was written for: every runner of the
-- database must use that count (a runner with another one waits until no partition is
-- held, then rewrites the map). Plain tables in both storage modes.

CREATE TABLE runner_partition_keys (
    key  text    PRIMARY KEY,
    part integer NOT NULL CHECK (part >= 0)
);

CREATE TABLE runner_layout (
    id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
    partitions integer     NOT NULL CHECK (partitions >= 1),
    updated_at timestamptz NOT NULL DEFAULT now()
);
