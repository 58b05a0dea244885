package event

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"github.com/nats-io/nkeys"
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/proto"
)

func newSigner(t testing.TB) *Signer {
	t.Helper()
	seed, err := GenerateSeed()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tokenEvent() *gatepassv1.Event {
	return &gatepassv1.Event{Id: "ev1", Body: &gatepassv1.Event_Token{Token: &gatepassv1.TokenState{
		Token:        &gatepassv1.Token{Id: "tok_1", Status: gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED, Version: 3},
		SecretSha256: make([]byte, 32),
	}}}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	s := newSigner(t)
	other := newSigner(t)
	v, err := NewVerifier(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal(tokenEvent())
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := other.Seal(tokenEvent())
	unsigned, _ := proto.Marshal(&gatepassv1.Envelope{Payload: sealed[:10]})
	var env gatepassv1.Envelope
	if err := proto.Unmarshal(sealed, &env); err != nil {
		t.Fatal(err)
	}
	tampered := proto.Clone(&env).(*gatepassv1.Envelope)
	tampered.Payload = append([]byte(nil), env.Payload...)
	tampered.Payload[len(tampered.Payload)-1] ^= 1
	tamperedBytes, _ := proto.Marshal(tampered)
	// A signature lifted from the envelope without domain separation must fail.
	tests := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"valid", sealed, nil},
		{"other key", forged, ErrBadSignature},
		{"unsigned", unsigned, ErrUnsigned},
		{"tampered payload", tamperedBytes, ErrBadSignature},
		{"garbage", []byte{0xff, 0xff, 0xff}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := v.Open(tt.data)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !proto.Equal(ev, tokenEvent()) {
				t.Fatalf("Open returned %v", ev)
			}
		})
	}
}

func TestSubject(t *testing.T) {
	t.Parallel()
	if got := Subject(tokenEvent()); got != "gatepass.token.tok_1" {
		t.Fatalf("Subject = %q", got)
	}
	if kind, id, ok := ParseSubject("gatepass.token.tok_1"); !ok || kind != "token" || id != "tok_1" {
		t.Fatalf("ParseSubject = %q %q %v", kind, id, ok)
	}
	if _, _, ok := ParseSubject(HeartbeatSubject); ok {
		t.Fatal("ParseSubject accepted the heartbeat subject")
	}
	hb := &gatepassv1.Event{Id: "x", Body: &gatepassv1.Event_Heartbeat{Heartbeat: &gatepassv1.Heartbeat{}}}
	if got := Subject(hb); got != "" {
		t.Fatalf("heartbeat Subject = %q", got)
	}
}

func FuzzOpen(f *testing.F) {
	s := newSigner(f)
	v, err := NewVerifier(s.PublicKey())
	if err != nil {
		f.Fatal(err)
	}
	sealed, _ := s.Seal(tokenEvent())
	f.Add(sealed)
	batch, _ := s.SealBatch(payloads(5))
	f.Add(batch[4])
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := v.Open(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsigned) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if ev.GetId() == "" {
			t.Fatal("opened an event without id")
		}
	})
}

func TestReports(t *testing.T) {
	t.Parallel()
	good, other := newSigner(t), newSigner(t)
	rep := &gatepassv1.ValidatorReport{ValidatorId: "v1", AppliedSequence: 9, Serving: true}
	sealed, err := good.SealReport(rep)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := other.SealReport(rep)
	// An issuer event signature cannot pass for a report, nor the reverse.
	eventSealed, _ := good.Seal(tokenEvent())
	keys, err := ParseReportKeys([]string{good.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	var got gatepassv1.ValidatorReport
	if signer, err := keys.OpenReport(sealed, &got); err != nil || signer != good.PublicKey() || !proto.Equal(&got, rep) {
		t.Fatalf("OpenReport = %v, %v", &got, err)
	}
	for name, data := range map[string][]byte{"other key": forged, "event envelope": eventSealed} {
		if _, err := keys.OpenReport(data, &got); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	v, _ := NewVerifier(good.PublicKey())
	if _, err := v.Open(sealed); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a report opened as an issuer event: %v", err)
	}
	// Without configured keys, reports are read as they come.
	if _, err := (ReportKeys{}).OpenReport(forged, &got); err != nil {
		t.Errorf("open mode: %v", err)
	}
	if _, err := ParseReportKeys([]string{"nope"}); err == nil {
		t.Error("bad key accepted")
	}
}

// TestSignaturesAreNkeys: the expanded key signs exactly as nkeys does, so
// anything holding the nkeys public key can check an envelope.
func TestSignaturesAreNkeys(t *testing.T) {
	t.Parallel()
	seed, err := GenerateSeed()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("gatepass")
	want, err := kp.Sign(append([]byte(domain), msg...))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.sign(domain, msg); !bytes.Equal(got, want) {
		t.Fatal("signature differs from nkeys'")
	}
	pub, err := publicKey(s.PublicKey())
	if err != nil || !ed25519.Verify(pub, append([]byte(domain), msg...), want) {
		t.Fatalf("nkeys signature does not verify with the decoded key: %v", err)
	}
}

// TestOpenAllAgreesWithOpen: batch opening gives every message what Open
// gives it, whether the batch holds forgeries or not, large or small.
func TestOpenAllAgreesWithOpen(t *testing.T) {
	t.Parallel()
	s, other := newSigner(t), newSigner(t)
	v, _ := NewVerifier(s.PublicKey())
	for _, n := range []int{1, 10, 200} {
		for _, forge := range []bool{false, true} {
			datas := make([][]byte, n)
			for i := range datas {
				ev := &gatepassv1.Event{Id: fmt.Sprintf("ev_%d", i), Body: &gatepassv1.Event_Checkpoint{Checkpoint: &gatepassv1.Checkpoint{LogIndex: uint64(i)}}}
				signer := s
				if forge && i%17 == 3 {
					signer = other
				}
				datas[i], _ = signer.Seal(ev)
			}
			if forge {
				datas[n-1] = []byte("not an envelope")
				unsigned, _ := proto.Marshal(&gatepassv1.Envelope{Payload: []byte("x")})
				datas[0] = unsigned
			}
			evs, errs := v.OpenAll(datas)
			for i, d := range datas {
				want, werr := v.Open(d)
				if !errors.Is(errs[i], werr) && (errs[i] == nil) != (werr == nil) {
					t.Fatalf("n=%d forge=%v item %d: OpenAll error %v, Open %v", n, forge, i, errs[i], werr)
				}
				if werr == nil && !proto.Equal(evs[i], want) {
					t.Fatalf("n=%d item %d: events differ", n, i)
				}
				if werr != nil && evs[i] != nil {
					t.Fatalf("n=%d item %d: OpenAll returned an event Open refuses (%v)", n, i, werr)
				}
			}
		}
	}
}

// TestSameKeyBatch: good signatures pass together; one wrong message,
// signature or key among them fails the batch.
func TestSameKeyBatch(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	msgs := make([][]byte, 50)
	sigs := make([][]byte, len(msgs))
	for i := range msgs {
		msgs[i] = fmt.Appendf(nil, "message %d", i)
		sigs[i] = ed25519.Sign(priv, msgs[i])
	}
	check := func(edit func(i int, msg, sig []byte) ([]byte, []byte)) bool {
		b := newSameKeyBatch(pub, len(msgs))
		for i := range msgs {
			m, s := edit(i, msgs[i], sigs[i])
			b.add("", m, s)
		}
		return b.verify()
	}
	same := func(_ int, m, s []byte) ([]byte, []byte) { return m, s }
	if !check(same) {
		t.Fatal("good signatures fail as a batch")
	}
	bad := map[string]func(i int, m, s []byte) ([]byte, []byte){
		"other message": func(i int, m, s []byte) ([]byte, []byte) {
			if i == 17 {
				return []byte("forged"), s
			}
			return m, s
		},
		"other key": func(i int, m, s []byte) ([]byte, []byte) {
			if i == 3 {
				return m, ed25519.Sign(otherPriv, m)
			}
			return m, s
		},
		"flipped bit": func(i int, m, s []byte) ([]byte, []byte) {
			if i == 49 {
				s = append([]byte(nil), s...)
				s[40] ^= 1
			}
			return m, s
		},
		"swapped": func(i int, m, s []byte) ([]byte, []byte) {
			if i == 0 {
				return m, sigs[1]
			}
			return m, s
		},
	}
	for name, edit := range bad {
		if check(edit) {
			t.Errorf("%s: the batch verified", name)
		}
	}
	if newSameKeyBatch(pub, 0).verify() {
		t.Error("an empty batch verified")
	}
}
