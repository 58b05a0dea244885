package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/gatepass/gatepass/pkg/natsconn"
	"github.com/gatepass/gatepass/pkg/natsembed"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsConn is the issuer's NATS connection, and the embedded server's
// validator password file when the issuer runs one.
type natsConn struct {
	nc                    *nats.Conn
	js                    jetstream.JetStream
	url                   string
	validatorPasswordFile string
	close                 func()
}

// connectNATS connects to the configured NATS, or starts an embedded
// JetStream server when no URL is configured (make run).
func connectNATS(cfg Config, log *slog.Logger) (_ *natsConn, err error) {
	c := &natsConn{close: func() {}}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	natsOpts := cfg.NATS
	natsOpts.Name = "gatepass-issuer"
	if natsOpts.URL == "" {
		// The embedded server requires credentials: the issuer's own, and
		// the validators', which only let them read the stream and report.
		issuerPassword, err := loadOrCreatePassword(filepath.Join(cfg.DataDir, "nats-issuer.pass"))
		if err != nil {
			return nil, err
		}
		c.validatorPasswordFile = filepath.Join(cfg.DataDir, "nats-validator.pass")
		validatorPassword, err := loadOrCreatePassword(c.validatorPasswordFile)
		if err != nil {
			return nil, err
		}
		ns, err := natsembed.Start(natsembed.Options{
			Addr: cfg.EmbeddedNATSAddr, StoreDir: filepath.Join(cfg.DataDir, "nats"),
			Users: []natsembed.User{natsembed.IssuerUser(issuerPassword), natsembed.ValidatorUser(validatorPassword)},
		})
		if err != nil {
			return nil, err
		}
		c.close = ns.Shutdown
		natsOpts.URL = ns.ClientURL()
		natsOpts.User, natsOpts.Password, natsOpts.PasswordFile = natsembed.IssuerUser("").Name, issuerPassword, ""
		log.Info("embedded NATS JetStream started", "url", natsOpts.URL)
	}
	c.url = natsOpts.URL
	if c.nc, err = natsconn.Connect(natsOpts); err != nil {
		return nil, err
	}
	shutdown := c.close
	c.close = func() { natsconn.Drain(c.nc, 5*time.Second); shutdown() }
	if c.js, err = jetstream.New(c.nc); err != nil {
		return nil, fmt.Errorf("JetStream: %w", err)
	}
	return c, nil
}
