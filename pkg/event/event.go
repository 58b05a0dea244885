// Package event defines how the issuer's facts travel over NATS: the stream
// and subject names, and the signed envelope around each Event.
//
// Every envelope carries an Ed25519 signature (keys in nkeys encoding) over
// a domain-separated payload, or over the Merkle root of a batch of
// payloads with the envelope's inclusion path (SealBatch). Validators are
// configured with the issuer's public key and drop anything that does not
// verify, so publishing on NATS alone cannot mint or resurrect a token.
//
// # Caveats
//
// The token stream keeps one message per subject. A party that may publish
// on the stream's subjects could replace a token's latest event with an
// older, validly signed one; validators that already hold the newer version
// ignore it (versions only grow), but one rebuilding from scratch would not.
// Production NATS credentials must therefore let only the issuer publish on
// StreamSubjects.
package event

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/nats-io/nkeys"
	"google.golang.org/protobuf/proto"
)

const (
	// StreamName is the JetStream stream holding the latest state of every
	// token and project.
	StreamName = "GATEPASS_STATE"
	// HeartbeatSubject carries signed issuer heartbeats (core NATS).
	HeartbeatSubject = "gatepass.heartbeat"
	// ReportSubject carries validator reports to the issuer (core NATS).
	ReportSubject = "gatepass.validator.report"
	// UsageSubject carries validators' usage reports to the issuer (core
	// NATS): statistics only, so a lost report loses nothing else.
	UsageSubject = "gatepass.validator.usage"
	// AuditStreamName is the JetStream stream of signed audit events, for
	// external consumers.
	AuditStreamName = "GATEPASS_AUDIT"
	// AuditSubjects are the audit stream's subjects, one per workspace.
	AuditSubjects = auditPrefix + "*"

	auditPrefix = "gatepass.audit."

	// CheckpointSubject carries the issuer's latest checkpoint on the
	// token stream.
	CheckpointSubject = "gatepass.checkpoint"

	tokenPrefix   = "gatepass.token."
	projectPrefix = "gatepass.project."
	domain        = "gatepass.v1.Event\n"
)

// StreamSubjects are the subjects of StreamName: one per token or project,
// and the checkpoint.
var StreamSubjects = []string{tokenPrefix + "*", projectPrefix + "*", CheckpointSubject}

var (
	// ErrMalformed is returned when bytes do not decode as an envelope or event.
	ErrMalformed = errors.New("malformed event")
	// ErrUnsigned is returned when an envelope has no signature.
	ErrUnsigned = errors.New("unsigned event")
	// ErrBadSignature is returned when a signature does not verify against
	// the configured issuer key.
	ErrBadSignature = errors.New("bad event signature")
)

// TokenSubject is the stream subject of a token's events.
func TokenSubject(tokenID string) string { return tokenPrefix + tokenID }

// ProjectSubject is the stream subject of a project's events.
func ProjectSubject(projectID string) string { return projectPrefix + projectID }

// Subject returns the stream subject an event belongs on, or "" for events
// that do not go on the stream.
func Subject(ev *gatepassv1.Event) string {
	switch b := ev.GetBody().(type) {
	case *gatepassv1.Event_Token:
		return TokenSubject(b.Token.GetToken().GetId())
	case *gatepassv1.Event_Project:
		return ProjectSubject(b.Project.GetProject().GetId())
	case *gatepassv1.Event_Audit:
		return auditPrefix + b.Audit.GetWorkspaceId()
	case *gatepassv1.Event_Checkpoint:
		return CheckpointSubject
	}
	return ""
}

// StreamOf returns the stream a subject belongs to.
func StreamOf(subject string) string {
	if strings.HasPrefix(subject, auditPrefix) {
		return AuditStreamName
	}
	return StreamName
}

// GenerateSeed returns a new Ed25519 signing seed in nkeys encoding.
func GenerateSeed() ([]byte, error) {
	kp, err := nkeys.CreateServer()
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return kp.Seed()
}

// Signer seals events with the issuer's key.
//
// It keeps the expanded Ed25519 key: nkeys derives it from the seed on
// every signature, which doubles the cost of each.
type Signer struct {
	key ed25519.PrivateKey
	pub string
}

// NewSigner loads a signing seed.
func NewSigner(seed []byte) (*Signer, error) {
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	priv, err := kp.PrivateKey()
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	raw, err := nkeys.Decode(nkeys.PrefixBytePrivate, priv)
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("load signing key: not an Ed25519 key")
	}
	return &Signer{key: ed25519.PrivateKey(raw), pub: pub}, nil
}

// sign signs domain followed by payload.
func (s *Signer) sign(domain string, payload []byte) []byte {
	return ed25519.Sign(s.key, append([]byte(domain), payload...))
}

// publicKey decodes an nkeys public key, of any kind, to its Ed25519 key.
func publicKey(k string) (ed25519.PublicKey, error) {
	for _, p := range []nkeys.PrefixByte{nkeys.PrefixByteServer, nkeys.PrefixByteUser, nkeys.PrefixByteAccount,
		nkeys.PrefixByteOperator, nkeys.PrefixByteCluster} {
		if raw, err := nkeys.Decode(p, []byte(k)); err == nil && len(raw) == ed25519.PublicKeySize {
			return ed25519.PublicKey(raw), nil
		}
	}
	return nil, errors.New("not an nkeys Ed25519 public key")
}

// PublicKey returns the key validators verify with.
func (s *Signer) PublicKey() string { return s.pub }

// Seal serializes and signs ev on its own (SealBatch signs many at once).
func (s *Signer) Seal(ev *gatepassv1.Event) ([]byte, error) {
	payload, err := proto.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("seal event: %w", err)
	}
	return proto.Marshal(&gatepassv1.Envelope{Payload: payload, Signature: s.sign(domain, payload), Signer: s.pub})
}

// Verifier opens envelopes signed by one issuer key.
type Verifier struct {
	key   ed25519.PublicKey
	roots knownRoots
}

// NewVerifier returns a verifier for an issuer public key.
func NewVerifier(key string) (*Verifier, error) {
	if _, err := nkeys.FromPublicKey(key); err != nil {
		return nil, fmt.Errorf("load issuer public key: %w", err)
	}
	pub, err := publicKey(key)
	if err != nil {
		return nil, fmt.Errorf("load issuer public key: %w", err)
	}
	return &Verifier{key: pub}, nil
}

// Open checks the signature on data and returns the event inside.
func (v *Verifier) Open(data []byte) (*gatepassv1.Event, error) {
	var env gatepassv1.Envelope
	if err := proto.Unmarshal(data, &env); err != nil {
		return nil, malformed(err)
	}
	if err := v.checkSignature(&env); err != nil {
		return nil, err
	}
	return decodePayload(env.GetPayload())
}

// checkSignature returns why env is not signed with the key, or nil.
func (v *Verifier) checkSignature(env *gatepassv1.Envelope) error {
	sig := env.GetSignature()
	if len(sig) == 0 {
		return ErrUnsigned
	}
	prefix, msg, err := signed(env)
	if err != nil {
		return ErrBadSignature
	}
	batch := env.GetBatch() != nil
	if batch && v.roots.has(rootKey(msg, sig)) {
		return nil
	}
	if !v.verifies(prefix, msg, sig) {
		return ErrBadSignature
	}
	if batch {
		v.roots.add(rootKey(msg, sig))
	}
	return nil
}

// verifies checks one signature over prefix followed by msg.
func (v *Verifier) verifies(prefix string, msg, sig []byte) bool {
	return ed25519.Verify(v.key, append([]byte(prefix), msg...), sig)
}

// Decode returns the event inside data without checking its signature:
// only for bytes the caller sealed itself.
func Decode(data []byte) (*gatepassv1.Event, error) {
	var env gatepassv1.Envelope
	if err := proto.Unmarshal(data, &env); err != nil {
		return nil, malformed(err)
	}
	return decodePayload(env.GetPayload())
}

func decodePayload(payload []byte) (*gatepassv1.Event, error) {
	var ev gatepassv1.Event
	if err := proto.Unmarshal(payload, &ev); err != nil {
		return nil, malformed(err)
	}
	if ev.GetId() == "" || ev.GetBody() == nil {
		return nil, fmt.Errorf("%w: missing id or body", ErrMalformed)
	}
	return &ev, nil
}

func malformed(err error) error { return fmt.Errorf("%w: %v", ErrMalformed, err) }

// ParseSubject splits a stream subject into its kind ("token" or
// "project") and id; ok is false for any other subject.
func ParseSubject(subject string) (kind, id string, ok bool) {
	switch {
	case strings.HasPrefix(subject, tokenPrefix):
		return "token", subject[len(tokenPrefix):], len(subject) > len(tokenPrefix)
	case strings.HasPrefix(subject, projectPrefix):
		return "project", subject[len(projectPrefix):], len(subject) > len(projectPrefix)
	}
	return "", "", false
}
