-- +goose Up
-- The collection queue for MySQL/MariaDB; same tables and roles as the
-- sqlite schema, InnoDB, times as unix milliseconds. Names and keys are
-- VARBINARY so they compare byte for byte, as in SQLite (a _ci collation
-- would make "Offset" and "offset" one key, PAD SPACE would ignore trailing
-- spaces); other text is utf8mb4_bin.
CREATE TABLE incoming_workload_type (
    id   INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARBINARY(2048) NOT NULL,
    UNIQUE KEY incoming_workload_type_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE incoming_workload (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    uuid        VARCHAR(36) NOT NULL,
    type_id     INT NOT NULL,
    mode        VARCHAR(256) NOT NULL,
    work        LONGBLOB NOT NULL,
    has_files   TINYINT NOT NULL DEFAULT 0,
    pending     INT NOT NULL,
    insert_date BIGINT NOT NULL,
    UNIQUE KEY incoming_workload_uuid (uuid),
    KEY incoming_workload_pending (pending),
    CONSTRAINT fk_iw_type FOREIGN KEY (type_id) REFERENCES incoming_workload_type(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE work_distribution_groups (
    id               INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name             VARBINARY(512) NOT NULL,
    coverage_counter INT NOT NULL DEFAULT 0,
    UNIQUE KEY work_distribution_groups_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE work_distribution (
    group_id     INT NOT NULL,
    work_id      BIGINT NOT NULL,
    status       ENUM('READY','COMPLETED','ERROR','LOCKED') NOT NULL DEFAULT 'READY',
    skipped      TINYINT NOT NULL DEFAULT 0,
    parked       TINYINT NOT NULL DEFAULT 0,
    lock_uuid    VARCHAR(128) NULL,
    lock_time    BIGINT NULL,
    attempts     INT NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT NULL,
    updated_at   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, work_id),
    KEY work_distribution_claim (group_id, status, next_attempt, work_id),
    KEY work_distribution_lock (lock_uuid),
    KEY work_distribution_stale (status, lock_time),
    KEY work_distribution_work (work_id),
    CONSTRAINT fk_wd_group FOREIGN KEY (group_id) REFERENCES work_distribution_groups(id) ON DELETE CASCADE,
    CONSTRAINT fk_wd_work FOREIGN KEY (work_id) REFERENCES incoming_workload(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE persistence_source (
    id   INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARBINARY(1024) NOT NULL,
    UNIQUE KEY persistence_source_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE persistence (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    source_id   INT NOT NULL,
    permanent   INT NOT NULL DEFAULT 0,
    uuid        VARBINARY(2048) NOT NULL,
    value       LONGBLOB NULL,
    created_at  BIGINT NOT NULL,
    last_update BIGINT NOT NULL,
    UNIQUE KEY persistence_key (source_id, uuid),
    KEY persistence_last_update (permanent, last_update),
    KEY persistence_created_at (permanent, created_at),
    CONSTRAINT fk_p_source FOREIGN KEY (source_id) REFERENCES persistence_source(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE persistence;
DROP TABLE persistence_source;
DROP TABLE work_distribution;
DROP TABLE work_distribution_groups;
DROP TABLE incoming_workload;
DROP TABLE incoming_workload_type;
