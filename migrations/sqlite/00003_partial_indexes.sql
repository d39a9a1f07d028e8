-- +goose Up
-- Indexes that hold only the rows their queries look for, so that a
-- submission's trip through the queue (READY → LOCKED → COMPLETED →
-- deleted) touches few index entries: the claim index holds READY rows,
-- the lock index LOCKED rows (claims of live workers: Touch, stale and
-- start-up release), the error index ERROR rows (queue errors, retry,
-- retention), the finished index submissions every group is done with
-- (cleanup). Every query that uses one names its WHERE term literally
-- (status = 'READY', status = 'LOCKED', status = 'ERROR', pending <= 0),
-- which is how SQLite knows the partial index applies.
DROP INDEX work_distribution_claim;
CREATE INDEX work_distribution_claim ON work_distribution(group_id, status, next_attempt, work_id)
    WHERE status = 'READY';
DROP INDEX work_distribution_lock;
DROP INDEX work_distribution_stale;
CREATE INDEX work_distribution_locked ON work_distribution(status, lock_time) WHERE status = 'LOCKED';
CREATE INDEX work_distribution_errors ON work_distribution(status, updated_at) WHERE status = 'ERROR';
DROP INDEX incoming_workload_pending;
CREATE INDEX incoming_workload_finished ON incoming_workload(pending) WHERE pending <= 0;
-- Cleanup deletes a submission's delivery states through the primary key
-- (every group id, the submission's id), so no index on work_id is kept
-- up to date for it.
DROP INDEX work_distribution_work;

-- +goose Down
CREATE INDEX work_distribution_work ON work_distribution(work_id);
DROP INDEX incoming_workload_finished;
CREATE INDEX incoming_workload_pending ON incoming_workload(pending);
DROP INDEX work_distribution_errors;
DROP INDEX work_distribution_locked;
CREATE INDEX work_distribution_stale ON work_distribution(status, lock_time);
CREATE INDEX work_distribution_lock ON work_distribution(lock_uuid);
DROP INDEX work_distribution_claim;
CREATE INDEX work_distribution_claim ON work_distribution(group_id, status, next_attempt, work_id);
