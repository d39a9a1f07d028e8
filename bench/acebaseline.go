package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence"
)

// The ACE baseline runs ACE's own collection-queue SQL (reference/ace.md
// §3.5 and §3.7–3.8) on the same MySQL database as the pipeline, with the
// same submissions, producers, group threads (× instances), batch size,
// receivers and delivery client, so that the two rates differ by the queue
// alone:
//
//   - enqueue: one transaction per submission inserting incoming_workload
//     and one work_distribution row per group (insert_workload), here from
//     the bench's producers (ACE inserts from one collection thread);
//   - each group thread: the available modes, its own lock count, then
//     the lock UPDATE through a derived table ... ORDER BY id LIMIT
//     batch_size under a process-wide lock, the locked batch read, and one
//     autocommitted status UPDATE per delivered row;
//   - cleanup: up to 100 finished submissions per pass (GROUP BY over the
//     LONGBLOB, HAVING no READY/LOCKED row), deleted one by one, again at
//     once after a pass that cleaned, else after 1 s.
//
// An idle group thread polls every aceIdlePoll instead of ACE's 1 s, so
// that idle waits are not counted against ACE.

// ACEResult is what the ACE baseline measured.
type ACEResult struct {
	Deliveries      int64
	EndToEnd        time.Duration // first submit → last delivery
	Enqueue         time.Duration // first submit → last insert committed
	P50, P99        time.Duration
	SubmissionsPerS float64
	DeliveriesPerS  float64
	EnqueuePerS     float64
}

const aceIdlePoll = 10 * time.Millisecond

// aceSchema is ACE's queue schema (reference/ace.md §4) under names of its
// own, beside the store's tables in the same database.
var aceSchema = []string{
	`DROP TABLE IF EXISTS ace_baseline_work_distribution`,
	`DROP TABLE IF EXISTS ace_baseline_incoming_workload`,
	`DROP TABLE IF EXISTS ace_baseline_work_distribution_groups`,
	`DROP TABLE IF EXISTS ace_baseline_incoming_workload_type`,
	`CREATE TABLE ace_baseline_incoming_workload_type (
		id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
		name VARCHAR(512) NOT NULL,
		UNIQUE KEY (name)
	) ENGINE=InnoDB`,
	`CREATE TABLE ace_baseline_incoming_workload (
		id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
		type_id INT NOT NULL,
		mode VARCHAR(256) NOT NULL,
		work LONGBLOB NOT NULL,
		CONSTRAINT ace_baseline_fk_type FOREIGN KEY (type_id) REFERENCES ace_baseline_incoming_workload_type(id) ON DELETE CASCADE
	) ENGINE=InnoDB`,
	`CREATE TABLE ace_baseline_work_distribution_groups (
		id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
		name VARCHAR(128) NOT NULL,
		UNIQUE KEY (name)
	) ENGINE=InnoDB`,
	`CREATE TABLE ace_baseline_work_distribution (
		group_id INT NOT NULL,
		work_id BIGINT NOT NULL,
		status ENUM('READY','COMPLETED','ERROR','LOCKED') NOT NULL DEFAULT 'READY',
		lock_time TIMESTAMP NULL,
		lock_uuid VARCHAR(64) NULL,
		PRIMARY KEY (group_id, work_id),
		KEY ace_baseline_wd_work (work_id),
		KEY ace_baseline_wd_work_status (work_id, status),
		CONSTRAINT ace_baseline_fk_group FOREIGN KEY (group_id) REFERENCES ace_baseline_work_distribution_groups(id) ON DELETE CASCADE,
		CONSTRAINT ace_baseline_fk_work FOREIGN KEY (work_id) REFERENCES ace_baseline_incoming_workload(id) ON DELETE CASCADE
	) ENGINE=InnoDB`,
	`INSERT INTO ace_baseline_incoming_workload_type (id, name) VALUES (1, 'bench')`,
}

var aceDropSchema = aceSchema[:4]

// aceRun is one run of the baseline.
type aceRun struct {
	o      *Options
	db     *sqlx.DB
	track  *benchTracker
	nodes  []*benchNode
	client *api.Client
	lock   sync.Mutex // ACE's process-local work_sync_lock around taking locks

	mu         sync.Mutex
	first      time.Time
	lastInsert time.Time
}

func runACEBaseline(ctx context.Context, o *Options) (*ACEResult, error) {
	db, err := persistence.OpenMySQL(ctx, o.DSN)
	if err != nil {
		return nil, fmt.Errorf("ace baseline: %w", err)
	}
	defer db.Close()
	threads := o.Threads * o.Instances
	// A connection for every thread, as ACE's threads each hold one.
	db.SetMaxOpenConns(o.Producers + o.Groups*threads + 2)
	db.SetMaxIdleConns(o.Producers + o.Groups*threads + 2)
	for _, q := range aceSchema {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("ace baseline: creating ACE's tables: %w", err)
		}
	}
	defer func() {
		for _, q := range aceDropSchema {
			db.ExecContext(context.WithoutCancel(ctx), q)
		}
	}()
	r := &aceRun{o: o, db: db, track: newBenchTracker(int64(o.N) * int64(o.Groups))}
	if r.client, err = api.NewClient(api.ClientOptions{Timeout: 30 * time.Second, Logger: o.Log}); err != nil {
		return nil, fmt.Errorf("ace baseline: %w", err)
	}
	defer r.client.Close()
	dir, err := os.MkdirTemp("", "ace-collector-bench-ace-")
	if err != nil {
		return nil, fmt.Errorf("ace baseline: %w", err)
	}
	defer os.RemoveAll(dir)
	for g := range o.Groups {
		if _, err := db.ExecContext(ctx, `INSERT INTO ace_baseline_work_distribution_groups (id, name) VALUES (?, ?)`,
			g+1, fmt.Sprintf("g%d", g)); err != nil {
			return nil, fmt.Errorf("ace baseline: %w", err)
		}
		n, err := startBenchNode(filepath.Join(dir, fmt.Sprintf("node%d", g)), r.track, o.Log, false, true)
		if err != nil {
			return nil, err
		}
		defer n.stop()
		r.nodes = append(r.nodes, n)
	}
	return r.run(ctx)
}

func (r *aceRun) run(ctx context.Context) (*ACEResult, error) {
	o := r.o
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	fail := func(err error) {
		if err != nil && rctx.Err() == nil {
			select {
			case errc <- err:
			default:
			}
			cancel()
		}
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range o.Producers {
		wg.Add(1)
		go func() { defer wg.Done(); fail(r.produce(rctx, &next)) }()
	}
	for g := range o.Groups {
		for range o.Threads * o.Instances {
			wg.Add(1)
			go func() { defer wg.Done(); fail(r.groupThread(rctx, g)) }()
		}
	}
	wg.Add(1)
	go func() { defer wg.Done(); fail(r.cleanup(rctx)) }()

	var err error
	stall := time.NewTicker(time.Second)
	defer stall.Stop()
	last, lastMove := int64(0), time.Now()
wait:
	for {
		select {
		case <-r.track.done:
			break wait
		case err = <-errc:
			break wait
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-stall.C:
			if d := r.track.delivered.Load(); d != last || next.Load() < int64(o.N) {
				last, lastMove = d, time.Now()
			} else if time.Since(lastMove) > o.StallAfter {
				err = fmt.Errorf("ace baseline: stalled: %d of %d deliveries", d, r.track.want)
				break wait
			}
		}
	}
	cancel()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	res := &ACEResult{Deliveries: r.track.delivered.Load()}
	res.EndToEnd = r.track.last().Sub(r.first)
	res.Enqueue = r.lastInsert.Sub(r.first)
	res.P50, _, res.P99, _ = r.track.percentiles()
	res.SubmissionsPerS = float64(o.N) / res.EndToEnd.Seconds()
	res.DeliveriesPerS = float64(res.Deliveries) / res.EndToEnd.Seconds()
	res.EnqueuePerS = float64(o.N) / res.Enqueue.Seconds()
	return res, nil
}

// produce inserts submissions as ACE's insert_workload does: one
// transaction each, the work row then one distribution row per group.
func (r *aceRun) produce(ctx context.Context, next *atomic.Int64) error {
	for ctx.Err() == nil {
		i := int(next.Add(1) - 1)
		if i >= r.o.N {
			return nil
		}
		sub := benchSubmission(r.o, i)
		work, err := json.Marshal(sub)
		if err != nil {
			return err
		}
		at := time.Now()
		r.track.start(sub.UUID, at)
		if err := r.insert(ctx, sub.AnalysisMode, work); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ace baseline: inserting: %w", err)
		}
		end := time.Now()
		r.mu.Lock()
		if r.first.IsZero() || at.Before(r.first) {
			r.first = at
		}
		if end.After(r.lastInsert) {
			r.lastInsert = end
		}
		r.mu.Unlock()
	}
	return nil
}

func (r *aceRun) insert(ctx context.Context, mode string, work []byte) error {
	tx, err := r.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO ace_baseline_incoming_workload (type_id, mode, work) VALUES (1, ?, ?)`, mode, work)
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	for g := range r.o.Groups {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ace_baseline_work_distribution (work_id, group_id) VALUES (?, ?)`, id, g+1); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// groupThread is one of a group's ACE threads: RemoteNodeGroup.execute in
// a loop (the node query aside: the receivers are known).
func (r *aceRun) groupThread(ctx context.Context, g int) error {
	me := uuid.NewString()
	gid := g + 1
	for ctx.Err() == nil {
		n, err := r.execute(ctx, gid, me)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ace baseline: group g%d: %w", g, err)
		}
		if n == 0 {
			sleepCtx(ctx, aceIdlePoll)
		}
	}
	return nil
}

// execute is one pass of RemoteNodeGroup.execute; it returns how many
// items it delivered.
func (r *aceRun) execute(ctx context.Context, gid int, me string) (int, error) {
	var modes []string
	if err := r.db.SelectContext(ctx, &modes, `SELECT DISTINCT w.mode FROM ace_baseline_incoming_workload w
		JOIN ace_baseline_work_distribution d ON d.work_id = w.id
		WHERE w.type_id = 1 AND d.group_id = ? AND d.status IN ('READY', 'LOCKED')`, gid); err != nil {
		return 0, fmt.Errorf("available modes: %w", err)
	}
	if len(modes) == 0 {
		return 0, nil
	}
	if err := r.takeLocks(ctx, gid, me, modes); err != nil {
		return 0, err
	}
	var batch []struct {
		ID   int64  `db:"id"`
		Mode string `db:"mode"`
		Work []byte `db:"work"`
	}
	if err := r.db.SelectContext(ctx, &batch, `SELECT w.id, w.mode, w.work FROM ace_baseline_incoming_workload w
		JOIN ace_baseline_work_distribution d ON d.work_id = w.id
		WHERE d.lock_uuid = ? AND d.status = 'LOCKED' ORDER BY w.id`, me); err != nil {
		return 0, fmt.Errorf("reading the locked batch: %w", err)
	}
	node := r.nodes[gid-1].location()
	for _, it := range batch {
		var sub collector.Submission
		if err := json.Unmarshal(it.Work, &sub); err != nil {
			return 0, fmt.Errorf("decoding work %d: %w", it.ID, err)
		}
		if _, err := r.client.Submit(ctx, node, &sub); err != nil {
			if ctx.Err() != nil {
				return 0, nil
			}
			return 0, fmt.Errorf("delivering work %d: %w", it.ID, err)
		}
		// Every status update is its own committed statement.
		if _, err := r.db.ExecContext(ctx, `UPDATE ace_baseline_work_distribution SET status = 'COMPLETED'
			WHERE group_id = ? AND work_id = ?`, gid, it.ID); err != nil {
			return 0, fmt.Errorf("marking work %d: %w", it.ID, err)
		}
	}
	return len(batch), nil
}

// takeLocks locks up to batch_size items for me when it holds none: ACE's
// derived-table UPDATE, with its 10-minute stale-lock steal.
func (r *aceRun) takeLocks(ctx context.Context, gid int, me string, modes []string) error {
	var held int
	if err := r.db.GetContext(ctx, &held, `SELECT COUNT(*) FROM ace_baseline_work_distribution
		WHERE lock_uuid = ? AND status IN ('READY', 'LOCKED')`, me); err != nil {
		return fmt.Errorf("counting locks: %w", err)
	}
	if held > 0 {
		return nil
	}
	q, args, err := sqlx.In(`UPDATE ace_baseline_work_distribution SET status = 'LOCKED', lock_time = NOW(), lock_uuid = ?
		WHERE group_id = ? AND work_id IN (SELECT * FROM (
			SELECT w.id FROM ace_baseline_incoming_workload w
			JOIN ace_baseline_work_distribution d ON d.work_id = w.id
			WHERE w.type_id = 1 AND d.group_id = ? AND w.mode IN (?)
			AND (d.status = 'READY' OR (d.status = 'LOCKED' AND TIMESTAMPDIFF(MINUTE, d.lock_time, NOW()) >= 10))
			ORDER BY w.id ASC LIMIT ?) AS t1)`, me, gid, gid, modes, r.o.Batch)
	if err != nil {
		return err
	}
	r.lock.Lock()
	defer r.lock.Unlock()
	for attempt := 0; ; attempt++ {
		_, err = r.db.ExecContext(ctx, q, args...)
		// execute_with_retry: 3 attempts on a deadlock or lock wait timeout.
		if err == nil || attempt == 2 || !isDeadlock(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("taking locks: %w", err)
	}
	return nil
}

// cleanup is execute_workload_cleanup: up to 100 finished submissions per
// pass, deleted one by one.
func (r *aceRun) cleanup(ctx context.Context) error {
	for ctx.Err() == nil {
		var done []struct {
			ID   int64  `db:"id"`
			Work []byte `db:"work"`
		}
		if err := r.db.SelectContext(ctx, &done, `SELECT w.id, w.work FROM ace_baseline_incoming_workload w
			JOIN ace_baseline_work_distribution d ON d.work_id = w.id
			WHERE w.type_id = 1 GROUP BY w.id, w.work
			HAVING SUM(IF(d.status IN ('READY', 'LOCKED'), 1, 0)) = 0 LIMIT 100`); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ace baseline: cleanup: %w", err)
		}
		for _, w := range done {
			if _, err := r.db.ExecContext(ctx, `DELETE FROM ace_baseline_incoming_workload WHERE id = ?`, w.ID); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("ace baseline: cleanup: %w", err)
			}
		}
		if len(done) == 0 {
			sleepCtx(ctx, time.Second)
		}
	}
	return nil
}

// isDeadlock: MySQL's deadlock and lock wait timeout, which ACE retries.
func isDeadlock(err error) bool {
	var me *mysqldrv.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
