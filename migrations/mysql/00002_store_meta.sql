-- +goose Up
-- The store's identity: a random id and when it was first used (see the
-- sqlite migration). One row, id 1, written by the daemon with its own
-- clock, not the server's.
CREATE TABLE store_meta (
    id         TINYINT NOT NULL PRIMARY KEY,
    store_id   VARCHAR(36) NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE store_meta;
