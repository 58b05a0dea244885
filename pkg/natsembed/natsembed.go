// Package natsembed runs a NATS server with JetStream inside the process:
// the issuer uses it when no NATS URL is configured, and tests of both
// services use it as a real NATS peer.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded server.
type Options struct {
	// Addr is host:port to listen on; port 0 picks a free one.
	Addr string
	// StoreDir holds JetStream's file storage.
	StoreDir string
	// Users, when set, are the only ones who may connect, each with only
	// the permissions listed.
	Users []User
}

// User is a NATS user of the embedded server.
type User struct {
	Name, Password string
	// Publish and Subscribe are the subjects the user may use; empty allows
	// everything.
	Publish, Subscribe []string
}

// IssuerUser may do anything: it owns the streams.
func IssuerUser(password string) User {
	return User{Name: "gatepass-issuer", Password: password}
}

// ValidatorUser may read the token stream (stream info and an ordered
// consumer), hear heartbeats, and publish its reports, and nothing else:
// it cannot publish on the token stream's subjects nor purge or delete it.
func ValidatorUser(password string) User {
	const api = "$JS.API."
	stream := "GATEPASS_STATE"
	return User{
		Name: "gatepass-validator", Password: password,
		Publish: []string{
			"gatepass.validator.report", "gatepass.validator.usage",
			api + "STREAM.INFO." + stream,
			api + "CONSUMER.CREATE." + stream + ".>", api + "CONSUMER.DELETE." + stream + ".>",
			api + "CONSUMER.INFO." + stream + ".>", api + "CONSUMER.MSG.NEXT." + stream + ".>",
			"$JS.FC.>",
		},
		Subscribe: []string{"gatepass.heartbeat", "_INBOX.>"},
	}
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start starts the server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	host, portStr, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS address: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS port: %w", err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "gatepass-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		// Sync every write: the token stream is the validators' only source.
		SyncAlways: true,
	}
	for _, u := range o.Users {
		su := &server.User{Username: u.Name, Password: u.Password}
		if len(u.Publish) > 0 || len(u.Subscribe) > 0 {
			su.Permissions = &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: u.Publish},
				Subscribe: &server.SubjectPermission{Allow: u.Subscribe},
			}
		}
		opts.Users = append(opts.Users, su)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS did not become ready within 10s")
	}
	return &Server{ns: ns}, nil
}

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
