// Package ace is the group type `ace` (the default): it delivers each
// submission to an ACE node over ACE's HTTP API (POST
// /api/analysis/submit, multipart, as ACE's own ace_api.py does), with the
// nodes chosen by package groups. See docs/groups/ace.md.
package ace

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
)

//go:embed sample.ini
var sample []byte

func init() {
	groups.RegisterType(groups.Type{
		Name:    groups.TypeACE,
		Summary: "ACE nodes over ACE's HTTP API (the default)",
		Sample:  sample,
		Nodes:   true,
		Parse:   parse,
		Open:    open,
	})
}

// Settings are an ace group's own keys: the delivery client's.
type Settings struct {
	VerifyTLS    bool
	CAFile       string
	ClientCert   string
	ClientKey    string
	APIKey       string
	APIKeyHeader string
	Timeout      time.Duration
	RetryMax     int
}

// ProbeOptions are the client settings `ace-collector ping` checks a node
// with: the group's own TLS, client certificate and API key.
func (s *Settings) ProbeOptions() api.ClientOptions {
	return api.ClientOptions{CAFile: s.CAFile, InsecureSkipVerify: !s.VerifyTLS, CertFile: s.ClientCert,
		KeyFile: s.ClientKey, APIKey: s.APIKey, APIKeyHeader: s.APIKeyHeader, Timeout: s.Timeout}
}

func parse(s *collector.Section, g groups.GroupConfig, env groups.ParseEnv) any {
	st := &Settings{
		VerifyTLS:    s.Bool("verify_tls", true),
		CAFile:       s.String("ca_chain_path", ""),
		ClientCert:   s.String("client_cert", ""),
		ClientKey:    s.String("client_key", ""),
		APIKey:       s.String("api_key", ""),
		APIKeyHeader: s.String("api_key_header", api.DefaultAPIKeyHeader),
		Timeout:      s.Duration("timeout", 30*time.Second),
	}
	st.RetryMax = s.Int("retry_max", map[bool]int{true: 1, false: 0}[g.FullDelivery], 0, 10)
	for _, k := range []string{"ca_chain_path", "client_cert", "client_key"} {
		groups.CheckFile(s, k)
	}
	if st.CAFile == "" {
		st.CAFile = env.SSLCAFile
	}
	if (st.ClientCert == "") != (st.ClientKey == "") {
		s.Errorf("client_cert", "client_cert and client_key go together")
	}
	if !g.FullDelivery && s.Has("retry_max") && st.RetryMax > 0 {
		s.Errorf("retry_max", "full_delivery = no means exactly one attempt; retry_max must be 0")
	}
	return st
}

func open(g groups.GroupConfig, log *slog.Logger) (groups.Delivery, error) {
	st, ok := g.Settings.(*Settings)
	if !ok {
		return nil, fmt.Errorf("ace: group %s has no ace settings", g.Name)
	}
	c, err := api.NewClient(api.ClientOptions{
		CAFile:             st.CAFile,
		InsecureSkipVerify: !st.VerifyTLS,
		CertFile:           st.ClientCert,
		KeyFile:            st.ClientKey,
		APIKey:             st.APIKey,
		APIKeyHeader:       st.APIKeyHeader,
		Timeout:            st.Timeout,
		RetryMax:           st.RetryMax,
		Logger:             log,
	})
	if err != nil {
		return nil, err
	}
	return &Delivery{client: c, companyID: g.CompanyID, log: log}, nil
}

// Delivery submits to ACE nodes with one pooled client.
type Delivery struct {
	client    *api.Client
	companyID int
	log       *slog.Logger
}

// Deliver submits sub to the node. The client's errors classify
// themselves (groups.Classify: api.Transient, api.FailureKind): refused,
// reset, timeouts, TLS and certificate failures, 5xx, 408 and 429 are
// transient, another 4xx is a rejection.
func (d *Delivery) Deliver(ctx context.Context, to groups.Node, sub *collector.Submission) error {
	if d.companyID != 0 {
		c := *sub // shared with the submission's other groups
		c.CompanyID = d.companyID
		sub = &c
	}
	out, err := d.client.Submit(ctx, to.Location, sub)
	if err != nil {
		return err
	}
	d.log.Debug("ACE node accepted the submission", "uuid", sub.UUID, "node", to.Name, "remote_uuid", out.UUID)
	return nil
}

// Close releases the client's idle connections.
func (d *Delivery) Close() error {
	d.client.Close()
	return nil
}

var _ groups.Delivery = (*Delivery)(nil)
