package follow

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/logtest"
	"github.com/gatepass/gatepass/pkg/natstest"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type streamEnv struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	signer *event.Signer
	cache  *cache.Cache
	// digest and tokens summarize what was published, for checkpoints.
	digest propagation.Digest
	tokens uint64
	index  uint64
}

func newStreamEnv(t *testing.T) *streamEnv {
	dir := t.TempDir()
	_, nc, js := natstest.Start(t)
	seed, _ := event.GenerateSeed()
	signer, _ := event.NewSigner(seed)
	c, err := cache.Open(filepath.Join(dir, "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &streamEnv{js: js, nc: nc, signer: signer, cache: c}
	e.createStream(t)
	return e
}

func (e *streamEnv) createStream(t *testing.T) {
	_, err := e.js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: event.StreamName, Subjects: event.StreamSubjects, MaxMsgsPerSubject: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// publish sends a signed ACTIVE token event and returns its secret.
func (e *streamEnv) publish(t *testing.T, id string) token.Secret {
	sec, _ := token.Format{}.Mint()
	e.tokens++
	e.send(t, id, sec, true)
	return sec
}

// republish sends a token's state again, as the issuer does into a new
// stream.
func (e *streamEnv) republish(t *testing.T, id string, sec token.Secret) {
	e.send(t, id, sec, false)
}

func (e *streamEnv) send(t *testing.T, id string, sec token.Secret, fresh bool) {
	d := sec.Digest()
	ev := &gatepassv1.Event{Id: fmt.Sprintf("ev-%s-%d", id, e.index+1), Body: &gatepassv1.Event_Token{Token: &gatepassv1.TokenState{
		Token:        &gatepassv1.Token{Id: id, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, Version: 1, NeverExpires: true},
		SecretSha256: d[:],
	}}}
	e.index++
	ev.LogIndex = e.index
	if fresh {
		e.digest.Replace(nil, ev.GetToken())
	}
	data, err := e.signer.Seal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(t.Context(), event.TokenSubject(id), data); err != nil {
		t.Fatal(err)
	}
}

// checkpoint publishes the issuer's checkpoint of what was published.
func (e *streamEnv) checkpoint(t *testing.T) {
	d := e.digest
	data, err := e.signer.Seal(&gatepassv1.Event{Id: fmt.Sprintf("cp-%d", e.index), LogIndex: e.index,
		Body: &gatepassv1.Event_Checkpoint{Checkpoint: &gatepassv1.Checkpoint{LogIndex: e.index, Tokens: e.tokens, Digest: d[:]}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(t.Context(), event.CheckpointSubject, data); err != nil {
		t.Fatal(err)
	}
}

// follow runs a follower until stop is called; it returns once it is ready.
func (e *streamEnv) follow(t *testing.T, logs *logtest.Buffer) (f *Follower, stop func()) {
	v, _ := event.NewVerifier(e.signer.PublicKey())
	f = New(e.cache, v, Options{
		ID: "t", Staleness: 2 * time.Second, MaxClockSkew: time.Second, ReportInterval: time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Now: time.Now,
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = f.Run(ctx, e.nc, e.js) })
	deadline := time.Now().Add(10 * time.Second)
	for !f.Serving() {
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatal("follower not ready within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f, func() { cancel(); wg.Wait() }
}

// TestRecreatedStreamIsReplayed: a cache whose position belongs to a stream
// that was deleted and recreated replays the new stream from its start.
func TestRecreatedStreamIsReplayed(t *testing.T) {
	e := newStreamEnv(t)
	var old []token.Secret
	for i := range 3 {
		old = append(old, e.publish(t, fmt.Sprintf("tok_old%d", i)))
	}
	e.checkpoint(t)
	logs := &logtest.Buffer{}
	f, stop := e.follow(t, logs)
	if f.Applied() != 4 {
		t.Fatalf("applied %d, want 4", f.Applied())
	}
	stop()

	if err := e.js.DeleteStream(t.Context(), event.StreamName); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a distinct creation time
	e.createStream(t)
	// The issuer republishes every state into the new stream, then
	// checkpoints it: only then is the new stream complete.
	for i := range 3 {
		e.republish(t, fmt.Sprintf("tok_old%d", i), old[i])
	}
	fresh := e.publish(t, "tok_new")
	e.checkpoint(t)

	f, stop = e.follow(t, logs)
	defer stop()
	if f.Applied() != 5 {
		t.Fatalf("after recreation applied = %d, want 5", f.Applied())
	}
	if _, err := e.cache.Lookup(fresh.Digest()); err != nil {
		t.Fatalf("token of the new stream missing: %v", err)
	}
	for _, s := range old {
		if _, err := e.cache.Lookup(s.Digest()); err != nil {
			t.Fatalf("replay dropped a cached token: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "replaying it from the start"); n != 1 {
		t.Fatalf("rebuild logged %d times, want once (after recreation only):\n%s", n, logs.String())
	}
}
