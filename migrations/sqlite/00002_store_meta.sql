-- +goose Up
-- The store's identity: a random id and when it was first used. Files
-- staged in incoming_dir carry the id of the store they were committed
-- to, so start-up can tell a store that was replaced (deleted, truncated,
-- recovered) from one that merely lost its latest commits. One row, id 1,
-- written by the daemon (persistence.Store.Meta) with its own clock.
CREATE TABLE store_meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    store_id   TEXT    NOT NULL,
    created_at INTEGER NOT NULL          -- unix milliseconds
);

-- +goose Down
DROP TABLE store_meta;
