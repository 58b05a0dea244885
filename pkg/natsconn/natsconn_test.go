package natsconn

import (
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/tlstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startTLS runs a NATS server that requires TLS, and client certificates
// too when mutual is set.
func startTLS(t *testing.T, c tlstest.Cert, mutual bool) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if mutual {
		cfg.ClientCAs = c.Pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		TLS: true, TLSConfig: cfg, TLSVerify: mutual, TLSTimeout: 2})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	t.Cleanup(ns.Shutdown)
	return fmt.Sprintf("tls://127.0.0.1:%d", ns.Addr().(*net.TCPAddr).Port)
}

// connected reports whether o reaches the server within two seconds.
func connected(t *testing.T, o Options) bool {
	t.Helper()
	nc, err := Connect(o)
	if err != nil {
		return false
	}
	defer nc.Close()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if nc.Status() == nats.CONNECTED {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func TestTLS(t *testing.T) {
	t.Parallel()
	c := tlstest.New(t)
	url := startTLS(t, c, false)
	if !connected(t, Options{URL: url, Name: "t", CAFile: c.CertFile}) {
		t.Fatal("TLS client with the CA could not connect")
	}
	if connected(t, Options{URL: url, Name: "t"}) {
		t.Fatal("connected without trusting the server's certificate")
	}
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	c := tlstest.New(t)
	url := startTLS(t, c, true)
	if !connected(t, Options{URL: url, Name: "t", CAFile: c.CertFile, CertFile: c.CertFile, KeyFile: c.KeyFile}) {
		t.Fatal("client with a certificate could not connect")
	}
	if connected(t, Options{URL: url, Name: "t", CAFile: c.CertFile}) {
		t.Fatal("connected without a client certificate")
	}
}
