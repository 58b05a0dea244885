// Package natsconn connects gatepass binaries to NATS with the options both
// share: endless reconnects, and optional credentials and TLS.
package natsconn

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gatepass/gatepass/pkg/config"
	"github.com/nats-io/nats.go"
)

// Options say how to reach NATS.
type Options struct {
	URL string
	// Name identifies the connection in NATS monitoring.
	Name string
	// CredsFile is a NATS credentials file (JWT and seed); empty for none.
	CredsFile string
	// User and PasswordFile authenticate with a user and the password kept
	// in a file (never on the command line); empty for none.
	User, PasswordFile string
	// Password is used when PasswordFile is empty (set by code, not flags).
	Password string
	// CAFile verifies the server's TLS certificate; empty uses the system pool.
	CAFile string
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile, KeyFile string
}

// Connect dials NATS. It returns at once even when the server is down, and
// keeps reconnecting for as long as the connection lives.
func Connect(o Options) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(250 * time.Millisecond),
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.User != "" {
		password := o.Password
		if o.PasswordFile != "" {
			b, err := os.ReadFile(o.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("NATS password: %w", err)
			}
			password = strings.TrimSpace(string(b))
		}
		opts = append(opts, nats.UserInfo(o.User, password))
	}
	if o.CAFile != "" {
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	if o.CertFile != "" || o.KeyFile != "" {
		opts = append(opts, nats.ClientCert(o.CertFile, o.KeyFile))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	return nc, nil
}

// Bind registers the connection settings shared by every binary.
func (o *Options) Bind(l *config.Loader, defaultURL string) {
	l.String(&o.URL, "nats-url", "GATEPASS_NATS_URL", defaultURL, "NATS URL")
	l.String(&o.CredsFile, "nats-creds", "GATEPASS_NATS_CREDS", "", "NATS credentials file")
	l.String(&o.User, "nats-user", "GATEPASS_NATS_USER", "", "NATS user")
	l.String(&o.PasswordFile, "nats-password-file", "GATEPASS_NATS_PASSWORD_FILE", "", "file holding the NATS user's password")
	l.String(&o.CAFile, "nats-ca", "GATEPASS_NATS_CA_FILE", "", "CA certificate that signs the NATS servers' certificates")
	l.String(&o.CertFile, "nats-cert", "GATEPASS_NATS_CERT_FILE", "", "client certificate for NATS mutual TLS")
	l.String(&o.KeyFile, "nats-key", "GATEPASS_NATS_KEY_FILE", "", "client key for NATS mutual TLS")
}

// Drain drains nc (flushing what was published, finishing subscriptions)
// and waits for it to close, at most timeout; then it closes it anyway.
func Drain(nc *nats.Conn, timeout time.Duration) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(timeout):
		nc.Close()
	}
}
