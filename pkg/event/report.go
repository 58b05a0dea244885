package event

import (
	"crypto/ed25519"
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/nats-io/nkeys"
	"google.golang.org/protobuf/proto"
)

// reportDomain separates validator report signatures from issuer events.
const reportDomain = "gatepass.v1.ValidatorMessage\n"

// SealReport signs a validator's report (ValidatorReport or UsageReport)
// with the validator's own key.
func (s *Signer) SealReport(m proto.Message) ([]byte, error) {
	payload, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("seal report: %w", err)
	}
	return proto.Marshal(&gatepassv1.Envelope{Payload: payload, Signature: s.sign(reportDomain, payload), Signer: s.pub})
}

// ReportKeys are the validator public keys whose reports the issuer
// believes. Empty accepts any report, signed or not (development only).
type ReportKeys map[string]ed25519.PublicKey

// ParseReportKeys parses nkeys public keys.
func ParseReportKeys(keys []string) (ReportKeys, error) {
	rk := ReportKeys{}
	for _, k := range keys {
		if _, err := nkeys.FromPublicKey(k); err != nil {
			return nil, fmt.Errorf("validator key %q: %w", k, err)
		}
		pub, err := publicKey(k)
		if err != nil {
			return nil, fmt.Errorf("validator key %q: %w", k, err)
		}
		rk[k] = pub
	}
	return rk, nil
}

// OpenReport decodes a validator report into m. With keys configured, the
// report must be signed by one of them. It returns the key the report
// names as its signer (a public key, safe to log), even on error.
func (rk ReportKeys) OpenReport(data []byte, m proto.Message) (string, error) {
	var env gatepassv1.Envelope
	if err := proto.Unmarshal(data, &env); err != nil {
		return "", malformed(err)
	}
	if len(rk) > 0 {
		if len(env.GetSignature()) == 0 {
			return env.GetSigner(), ErrUnsigned
		}
		pub, ok := rk[env.GetSigner()]
		if !ok || !ed25519.Verify(pub, append([]byte(reportDomain), env.GetPayload()...), env.GetSignature()) {
			return env.GetSigner(), ErrBadSignature
		}
	}
	if err := proto.Unmarshal(env.GetPayload(), m); err != nil {
		return "", malformed(err)
	}
	return env.GetSigner(), nil
}
