package follow

import (
	"errors"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/token"
	"google.golang.org/protobuf/proto"
)

// issuerLog plays the issuer: token events and checkpoints, signed, with
// growing log indexes, and the stream as JetStream keeps it (one message
// per subject).
type issuerLog struct {
	t       *testing.T
	signer  *event.Signer
	index   uint64
	digest  propagation.Digest
	states  map[string]*gatepassv1.TokenState
	seq     uint64
	stream  map[string]Msg
	history []Msg
}

func newIssuerLog(t *testing.T, signer *event.Signer) *issuerLog {
	return &issuerLog{t: t, signer: signer, states: map[string]*gatepassv1.TokenState{}, stream: map[string]Msg{}}
}

func (l *issuerLog) append(subject string, data []byte) Msg {
	l.seq++
	m := Msg{Seq: l.seq, Subject: subject, Data: data}
	l.stream[subject] = m
	l.history = append(l.history, m)
	return m
}

func (l *issuerLog) seal(ev *gatepassv1.Event) []byte {
	l.index++
	ev.Id, ev.LogIndex = "ev", l.index
	data, err := l.signer.Seal(ev)
	if err != nil {
		l.t.Fatal(err)
	}
	return data
}

func (l *issuerLog) put(id string, secret token.Secret, status gatepassv1.TokenStatus) Msg {
	d := secret.Digest()
	old := l.states[id]
	st := &gatepassv1.TokenState{Token: &gatepassv1.Token{Id: id, Status: status, Version: 1, NeverExpires: true}, SecretSha256: d[:]}
	if old != nil {
		st.Token.Version = old.GetToken().GetVersion() + 1
	}
	l.digest.Replace(old, st)
	l.states[id] = st
	return l.append(event.TokenSubject(id), l.seal(&gatepassv1.Event{Body: &gatepassv1.Event_Token{Token: proto.CloneOf(st)}}))
}

func (l *issuerLog) checkpoint() Msg {
	d := l.digest
	cp := &gatepassv1.Checkpoint{LogIndex: l.index, Tokens: uint64(len(l.states)), Digest: d[:]}
	data := l.seal(&gatepassv1.Event{Body: &gatepassv1.Event_Checkpoint{Checkpoint: cp}})
	l.index-- // a checkpoint takes no log index of its own
	return l.append(event.CheckpointSubject, data)
}

// contents is the stream in sequence order, as a consumer reads it.
func (l *issuerLog) contents() []Msg {
	var out []Msg
	for seq := uint64(1); seq <= l.seq; seq++ {
		for _, m := range l.stream {
			if m.Seq == seq {
				out = append(out, m)
			}
		}
	}
	return out
}

// TestReplayedOldEventIsCaughtWithoutTheIssuer: someone who can publish on
// NATS re-appends a revoked token's old ACTIVE event while the issuer is
// down; the revocation is gone from the stream (one message per subject). A
// validator rebuilding from nothing must not accept the token: the stream
// disagrees with the issuer's checkpoint even after a rebuild, so the
// validator refuses to answer and asks the issuer to republish. The first
// version accepted the token.
func TestReplayedOldEventIsCaughtWithoutTheIssuer(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, signer := newFollower(t, clk, 0)
	l := newIssuerLog(t, signer)
	secret, _ := token.Format{}.Mint()
	created := l.put("tok_1", secret, gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE)
	l.checkpoint()
	l.put("tok_1", secret, gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED)
	l.checkpoint()
	l.append(created.Subject, created.Data) // the replay

	// A fresh validator follows the stream from its start.
	info := propagation.StreamInfo{Created: streamCreated, FirstSeq: 1, LastSeq: l.seq, Msgs: uint64(len(l.stream))}
	restarts := 0
	for range 3 {
		if _, err := f.Resume(info, clk.Now()); err != nil {
			t.Fatal(err)
		}
		err := f.Apply(l.contents())
		if errors.Is(err, ErrRestart) {
			restarts++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	if restarts != 1 {
		t.Fatalf("rebuilt %d times, want once", restarts)
	}
	if err := f.Current(); !errors.Is(err, ErrDistrusted) {
		t.Fatalf("Current = %v, want ErrDistrusted", err)
	}
	if st, err := f.cache.Lookup(secret.Digest()); err == nil {
		t.Fatalf("the replayed ACTIVE state is accepted: %v", st)
	}
	data, _ := f.Report()
	var env gatepassv1.Envelope
	var r gatepassv1.ValidatorReport
	_ = proto.Unmarshal(data, &env)
	_ = proto.Unmarshal(env.GetPayload(), &r)
	if r.GetDistrustedCheckpoint() != l.index {
		t.Fatalf("report names distrusted checkpoint %d, want %d", r.GetDistrustedCheckpoint(), l.index)
	}

	// The issuer comes back and republishes the state: trust returns.
	again := l.republish(l.states["tok_1"])
	cp := l.checkpoint()
	if err := f.Apply([]Msg{again, cp}); err != nil {
		t.Fatal(err)
	}
	f.Confirm(propagation.StreamInfo{Created: streamCreated, LastSeq: l.seq}, clk.Now())
	if err := f.Current(); err != nil {
		t.Fatalf("after the republish: %v", err)
	}
	st, err := f.cache.Lookup(secret.Digest())
	if err != nil || st.Status != gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
		t.Fatalf("after the republish: %v, %v", st, err)
	}
}

func (l *issuerLog) republish(st *gatepassv1.TokenState) Msg {
	return l.append(event.TokenSubject(st.GetToken().GetId()), l.seal(&gatepassv1.Event{Body: &gatepassv1.Event_Token{Token: proto.CloneOf(st)}}))
}

// TestRecreatedStreamConfirmsNothingUntilCheckpointed: a validator that
// missed a disable comes back to a recreated, still empty stream. The new
// stream's head (0) must not let it answer from its old cache: the lost
// instance carried the disable. It answers again once the issuer has
// republished the state and checkpointed the new stream (found by the
// simulator, seed 4576).
func TestRecreatedStreamConfirmsNothingUntilCheckpointed(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, signer := newFollower(t, clk, 0)
	f.verified = false
	l := newIssuerLog(t, signer)
	secret, _ := token.Format{}.Mint()
	old := propagation.StreamInfo{Created: streamCreated, FirstSeq: 1, LastSeq: 2, Msgs: 2}
	if _, err := f.Resume(old, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply([]Msg{l.put("tok_1", secret, gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE), l.checkpoint()}); err != nil {
		t.Fatal(err)
	}
	if err := f.Current(); err != nil {
		t.Fatalf("verified in the first stream: %v", err)
	}
	l.put("tok_1", secret, gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED) // missed, then the stream is lost

	clk.Add(time.Second)
	recreated := propagation.StreamInfo{Created: streamCreated.Add(time.Hour)}
	if _, err := f.Resume(recreated, clk.Now()); err != nil {
		t.Fatal(err)
	}
	f.Confirm(recreated, clk.Now())
	if err := f.Current(); !errors.Is(err, ErrUnverifiedStream) {
		t.Fatalf("answering from the old cache on an empty recreated stream: %v", err)
	}
	// The issuer republishes and checkpoints the new stream.
	l.seq = 0
	if err := f.Apply([]Msg{l.republish(l.states["tok_1"]), l.checkpoint()}); err != nil {
		t.Fatal(err)
	}
	f.Confirm(propagation.StreamInfo{Created: recreated.Created, LastSeq: l.seq}, clk.Now())
	if err := f.Current(); err != nil {
		t.Fatalf("after the new stream's checkpoint: %v", err)
	}
	if st, err := f.cache.Lookup(secret.Digest()); err != nil || st.Status != gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED {
		t.Fatalf("after the new stream's checkpoint: %v, %v", st, err)
	}
}
