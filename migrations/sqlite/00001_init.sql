-- +goose Up
-- The collection queue, following ACE's table names and roles
-- (reference/ace.md §4), with JSON instead of pickles and with the columns
-- and indexes a durable, indexed, retrying queue needs.
CREATE TABLE incoming_workload_type (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE incoming_workload (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid        TEXT    NOT NULL UNIQUE,
    type_id     INTEGER NOT NULL REFERENCES incoming_workload_type(id),
    mode        TEXT    NOT NULL,
    work        BLOB    NOT NULL,          -- the submission as JSON
    has_files   INTEGER NOT NULL DEFAULT 0,
    pending     INTEGER NOT NULL,          -- groups not yet COMPLETED/ERROR
    insert_date INTEGER NOT NULL           -- unix milliseconds
);
CREATE INDEX incoming_workload_pending ON incoming_workload(pending);

CREATE TABLE work_distribution_groups (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,
    coverage_counter INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE work_distribution (
    group_id     INTEGER NOT NULL REFERENCES work_distribution_groups(id),
    work_id      INTEGER NOT NULL REFERENCES incoming_workload(id),
    status       TEXT    NOT NULL DEFAULT 'READY'
                 CHECK (status IN ('READY','LOCKED','COMPLETED','ERROR')),
    skipped      INTEGER NOT NULL DEFAULT 0, -- coverage decided not to deliver
    parked       INTEGER NOT NULL DEFAULT 0, -- ERROR kept for `queue retry`
    lock_uuid    TEXT,
    lock_time    INTEGER,                    -- unix milliseconds
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL DEFAULT 0, -- unix milliseconds
    last_error   TEXT,
    updated_at   INTEGER NOT NULL DEFAULT 0, -- unix milliseconds
    PRIMARY KEY (group_id, work_id)
);
CREATE INDEX work_distribution_claim ON work_distribution(group_id, status, next_attempt, work_id);
CREATE INDEX work_distribution_lock ON work_distribution(lock_uuid);
CREATE INDEX work_distribution_stale ON work_distribution(status, lock_time);
CREATE INDEX work_distribution_work ON work_distribution(work_id);

CREATE TABLE persistence_source (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE persistence (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id   INTEGER NOT NULL REFERENCES persistence_source(id),
    permanent   INTEGER NOT NULL DEFAULT 0,
    uuid        TEXT    NOT NULL,            -- the key
    value       BLOB,
    created_at  INTEGER NOT NULL,            -- unix milliseconds
    last_update INTEGER NOT NULL,
    UNIQUE (source_id, uuid)
);
CREATE INDEX persistence_last_update ON persistence(permanent, last_update);
CREATE INDEX persistence_created_at ON persistence(permanent, created_at);

-- +goose Down
DROP TABLE persistence;
DROP TABLE persistence_source;
DROP TABLE work_distribution;
DROP TABLE work_distribution_groups;
DROP TABLE incoming_workload;
DROP TABLE incoming_workload_type;
