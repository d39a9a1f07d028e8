package smtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	gosmtp "github.com/emersion/go-smtp"
	"golang.org/x/net/netutil"

	"github.com/ace-collector/ace-collector/collector"
)

// Collector is the SMTP listener.
type Collector struct {
	cfg Config
	// parsing bounds concurrent extractions (CPU and memory), whatever
	// the number of connections.
	parsing slots

	mu        sync.Mutex
	addr      net.Addr
	ready     chan struct{}
	readyOnce sync.Once
}

// Ready is closed once the listener is bound (see Addr).
func (c *Collector) Ready() <-chan struct{} { return c.ready }

// Addr is the bound listen address (useful with port 0), or nil before Ready.
func (c *Collector) Addr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

// Run serves SMTP until ctx is done, then stops accepting, lets in-flight
// sessions finish within shutdown_grace and closes the rest.
func (c *Collector) Run(ctx context.Context, env *collector.Env) error {
	if err := os.MkdirAll(c.cfg.SpoolDir, 0o700); err != nil {
		return fmt.Errorf("creating spool_dir: %w", err)
	}
	c.removeStale(env)
	if ramBacked(c.cfg.SpoolDir) {
		env.Log.Warn("spool_dir is on a RAM-backed file system: messages in flight take memory there and are copied into the store; "+
			"set spool_dir on the file system of incoming_dir", "spool_dir", c.cfg.SpoolDir)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("smtp listen on %s: %w", c.cfg.Listen, err)
	}
	ln = netutil.LimitListener(ln, c.cfg.MaxConnections)
	c.mu.Lock()
	c.addr = ln.Addr()
	c.mu.Unlock()

	// Submissions outlive a cancelled ctx for the grace period, so a
	// message in flight at shutdown still gets its 250 (or 451).
	submitCtx, cancelSubmits := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSubmits()
	srv := gosmtp.NewServer(&backend{c: c, env: env, ctx: submitCtx})
	srv.Domain = c.cfg.Domain
	srv.MaxMessageBytes = c.cfg.MaxMessageSize
	srv.MaxLineLength = c.cfg.MaxLineLength
	srv.ReadTimeout = c.cfg.ReadTimeout
	srv.WriteTimeout = c.cfg.WriteTimeout
	srv.TLSConfig = c.cfg.TLS
	srv.AllowInsecureAuth = c.cfg.AllowInsecureAuth
	srv.EnableSMTPUTF8 = true // RFC 6531: UTF-8 addresses and headers; extraction reads them
	srv.ErrorLog = logAdapter{env.Log}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	env.Log.Info("collector started", "listen", ln.Addr().String(), "starttls", c.cfg.TLS != nil,
		"auth", c.cfg.AuthUser != "", "max_message_size", c.cfg.MaxMessageSize, "rules", c.cfg.Rules.Len())
	defer env.Log.Info("collector stopped", "listen", ln.Addr().String())
	c.readyOnce.Do(func() { close(c.ready) })

	select {
	case err := <-errc:
		_ = srv.Close()
		if err == nil {
			return errors.New("smtp server stopped unexpectedly")
		}
		return fmt.Errorf("smtp server: %w", err)
	case <-ctx.Done():
	}
	graceCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(graceCtx); err != nil && !errors.Is(err, gosmtp.ErrServerClosed) {
		env.Log.Warn("smtp sessions still open after shutdown_grace; closing them", "error", err)
		cancelSubmits()
		_ = srv.Close()
	}
	// go-smtp closes only the listeners Serve has registered: when ctx
	// ends right after start, Serve may not have yet, and would accept
	// for ever.
	_ = ln.Close()
	<-errc
	return nil
}

// removeStale deletes message files left by a crash: those messages were
// never acknowledged, so their senders still hold them and will retry.
func (c *Collector) removeStale(env *collector.Env) {
	stale, _ := filepath.Glob(filepath.Join(c.cfg.SpoolDir, "smtp-*.eml"))
	for _, p := range stale {
		if err := os.Remove(p); err == nil {
			env.Count("stale_spool_removed", 1)
		}
	}
	if len(stale) > 0 {
		env.Log.Info("removed unacknowledged message files from a previous run", "count", len(stale), "spool_dir", c.cfg.SpoolDir)
	}
}

// backend creates a session per connection.
type backend struct {
	c   *Collector
	env *collector.Env
	ctx context.Context
}

func (b *backend) NewSession(conn *gosmtp.Conn) (gosmtp.Session, error) {
	s := &session{c: b.c, env: b.env, ctx: b.ctx, conn: conn}
	if ra := conn.Conn().RemoteAddr(); ra != nil {
		s.clientAddr = ra.String()
		if host, _, err := net.SplitHostPort(s.clientAddr); err == nil {
			s.clientIP = host
		}
	}
	b.env.Count("connections", 1)
	if b.c.cfg.AuthUser != "" {
		return &authSession{s}, nil
	}
	return s, nil
}

// logAdapter sends go-smtp's log lines to slog.
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Printf(format string, v ...any) {
	a.l.Warn("smtp server: " + fmt.Sprintf(format, v...))
}
func (a logAdapter) Println(v ...any) { a.l.Warn("smtp server: " + fmt.Sprint(v...)) }

// slots is a counting semaphore.
type slots chan struct{}

func (s slots) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s slots) release() { <-s }
