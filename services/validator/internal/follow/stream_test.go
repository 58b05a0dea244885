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
	d := sec.Digest()
	ev := &gatepassv1.Event{Id: "ev-" + id, Body: &gatepassv1.Event_Token{Token: &gatepassv1.TokenState{
		Token:        &gatepassv1.Token{Id: id, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, Version: 1, NeverExpires: true},
		SecretSha256: d[:],
	}}}
	data, err := e.signer.Seal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(t.Context(), event.TokenSubject(id), data); err != nil {
		t.Fatal(err)
	}
	return sec
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
	logs := &logtest.Buffer{}
	f, stop := e.follow(t, logs)
	if f.Applied() != 3 {
		t.Fatalf("applied %d, want 3", f.Applied())
	}
	stop()

	if err := e.js.DeleteStream(t.Context(), event.StreamName); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a distinct creation time
	e.createStream(t)
	fresh := e.publish(t, "tok_new")

	f, stop = e.follow(t, logs)
	defer stop()
	if f.Applied() != 1 {
		t.Fatalf("after recreation applied = %d, want 1", f.Applied())
	}
	if _, err := e.cache.Token(fresh.Digest()); err != nil {
		t.Fatalf("token of the new stream missing: %v", err)
	}
	for _, s := range old {
		if _, err := e.cache.Token(s.Digest()); err != nil {
			t.Fatalf("replay dropped a cached token: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "replaying it from the start"); n != 1 {
		t.Fatalf("rebuild logged %d times, want once (after recreation only):\n%s", n, logs.String())
	}
}
