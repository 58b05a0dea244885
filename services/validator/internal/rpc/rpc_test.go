package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
	"github.com/gatepass/gatepass/services/validator/internal/check"
	"github.com/gatepass/gatepass/services/validator/internal/usage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// countingStore is the real cache with a count of lookups.
type countingStore struct {
	*cache.Cache
	lookups atomic.Int64
}

func (c *countingStore) Lookup(d token.Digest) (cache.Entry, error) {
	c.lookups.Add(1)
	return c.Cache.Lookup(d)
}

func newServer(t testing.TB, now time.Time) (*Server, *countingStore, token.Secret) {
	t.Helper()
	c, err := cache.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sec, err := token.Format{}.Mint()
	if err != nil {
		t.Fatal(err)
	}
	d := sec.Digest()
	_, err = c.Apply([]cache.Item{
		{Sequence: 1, Project: &gatepassv1.ProjectState{Project: &gatepassv1.Project{Id: "prj_a", WorkspaceId: "ws_1"}}},
		{Sequence: 2, Token: &gatepassv1.TokenState{SecretSha256: d[:], Token: &gatepassv1.Token{
			Id: "tok_1", WorkspaceId: "ws_1", Role: gatepassv1.Role_ROLE_MAINTAINER, OwnerId: "mem_1",
			Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, ExpireTime: timestamppb.New(now.Add(time.Hour)), Version: 1,
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Cache: c}
	return &Server{Store: store, Current: func() error { return nil }, Now: func() time.Time { return now }, Logger: discard()}, store, sec
}

func TestMalformedNeverTouchesTheStore(t *testing.T) {
	t.Parallel()
	s, store, sec := newServer(t, time.Now())
	good := sec.String()
	for _, bad := range []string{"x", "gp_", good[:len(good)-1], good + "A", "xx" + good[2:], good[:8] + "!" + good[9:], good[:len(good)-1] + "0"} {
		if bad == good {
			continue
		}
		resp, err := s.ValidateToken(context.Background(), &gatepassv1.ValidateTokenRequest{Token: bad})
		if err != nil || resp.GetActive() || resp.GetReason() != gatepassv1.Reason_REASON_MALFORMED {
			t.Fatalf("malformed token: %v %v", resp, err)
		}
	}
	if n := store.lookups.Load(); n != 0 {
		t.Fatalf("malformed tokens caused %d store lookups", n)
	}
	resp, err := s.ValidateToken(context.Background(), &gatepassv1.ValidateTokenRequest{Token: good})
	if err != nil || !resp.GetActive() || store.lookups.Load() != 1 {
		t.Fatalf("good token: %v %v after %d lookups", resp, err, store.lookups.Load())
	}
}

func TestValidateAnswers(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s, _, sec := newServer(t, now)
	unknown, _ := token.Format{}.Mint()
	tests := []struct {
		name string
		req  *gatepassv1.ValidateTokenRequest
		want gatepassv1.Reason
	}{
		{"active", &gatepassv1.ValidateTokenRequest{Token: sec.String()}, gatepassv1.Reason_REASON_ACTIVE},
		{"unknown", &gatepassv1.ValidateTokenRequest{Token: unknown.String()}, gatepassv1.Reason_REASON_UNKNOWN},
		{"in project of workspace", &gatepassv1.ValidateTokenRequest{Token: sec.String(), ProjectId: "prj_a"}, gatepassv1.Reason_REASON_ACTIVE},
		{"unknown project", &gatepassv1.ValidateTokenRequest{Token: sec.String(), ProjectId: "prj_b"}, gatepassv1.Reason_REASON_WRONG_PROJECT},
		{"role", &gatepassv1.ValidateTokenRequest{Token: sec.String(), MinRole: gatepassv1.Role_ROLE_ADMIN}, gatepassv1.Reason_REASON_INSUFFICIENT_ROLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.ValidateToken(context.Background(), tt.req)
			if err != nil || resp.GetReason() != tt.want || resp.GetActive() != (tt.want == gatepassv1.Reason_REASON_ACTIVE) {
				t.Fatalf("got %v %v, want %v", resp, err, tt.want)
			}
			if tt.want != gatepassv1.Reason_REASON_UNKNOWN && resp.GetOwnerId() != "mem_1" {
				t.Fatalf("identity missing: %v", resp)
			}
		})
	}
	// Expiry: the answer changes at the instant, with no event.
	s.Now = func() time.Time { return now.Add(time.Hour) }
	resp, _ := s.ValidateToken(context.Background(), &gatepassv1.ValidateTokenRequest{Token: sec.String()})
	if resp.GetReason() != gatepassv1.Reason_REASON_EXPIRED {
		t.Fatalf("at expiry: %v", resp)
	}
}

func TestNotCurrentIsUnavailable(t *testing.T) {
	t.Parallel()
	s, store, sec := newServer(t, time.Now())
	s.Current = func() error { return errors.New("validator cannot confirm it is up to date") }
	_, err := s.ValidateToken(context.Background(), &gatepassv1.ValidateTokenRequest{Token: sec.String()})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("stale validator answered: %v", err)
	}
	if store.lookups.Load() != 0 {
		t.Fatal("stale validator looked the token up")
	}
}

func TestRequestValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		req   *gatepassv1.ValidateTokenRequest
		field string
	}{
		{"empty token", &gatepassv1.ValidateTokenRequest{}, "token"},
		{"huge token", &gatepassv1.ValidateTokenRequest{Token: strings.Repeat("a", 300)}, "token"},
		{"project id", &gatepassv1.ValidateTokenRequest{Token: "x", ProjectId: strings.Repeat("p", 65)}, "project_id"},
		{"role", &gatepassv1.ValidateTokenRequest{Token: "x", MinRole: 9}, "min_role"},
		{"client ip", &gatepassv1.ValidateTokenRequest{Token: "x", ClientIp: "10.0.0.300"}, "client_ip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Validate(tt.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tt.field) {
				t.Fatalf("Validate = %v, want InvalidArgument naming %s", err, tt.field)
			}
		})
	}
	if err := Validate(&gatepassv1.ValidateTokenRequest{Token: "x", ClientIp: "2001:db8::1", MinRole: gatepassv1.Role_ROLE_OWNER}); err != nil {
		t.Fatalf("good request refused: %v", err)
	}
}

func FuzzDecide(f *testing.F) {
	s, _, sec := newServer(f, time.Now())
	f.Add(sec.String(), "prj_a")
	f.Add("gp_", "")
	f.Add(sec.String()[:20], "x")
	f.Fuzz(func(t *testing.T, secret, project string) {
		a, err := s.Decide(secret, check.Request{ProjectID: project})
		if err != nil {
			t.Fatal(err)
		}
		if a.Active() && secret != sec.String() {
			t.Fatalf("accepted a token that is not the one minted")
		}
	})
}

// BenchmarkValidateToken measures a validation end to end inside the
// validator (parse, digest, bbolt lookup, decision), with and without usage
// recording, to show statistics cost validation nothing measurable.
func BenchmarkValidateToken(b *testing.B) {
	for _, withUsage := range []bool{false, true} {
		name := "usage=off"
		if withUsage {
			name = "usage=on"
		}
		b.Run(name, func(b *testing.B) {
			s, _, sec := newServer(b, time.Now())
			if withUsage {
				s.Usage = usage.NewRecorder(time.Now)
			}
			req := &gatepassv1.ValidateTokenRequest{Token: sec.String(), ProjectId: "prj_a", MinRole: gatepassv1.Role_ROLE_TESTER, ClientIp: "10.0.0.1"}
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := s.ValidateToken(ctx, req)
					if err != nil || !resp.GetActive() {
						b.Fatal(resp, err)
					}
				}
			})
		})
	}
}

// BenchmarkDecide measures the in-process decision (parse, digest, index
// lookup, decide, usage recording) with many tokens cached, the size the
// index must keep fast.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		// Filled once per size: b.Run calls its function once per b.N tried.
		s, _, sec := newServer(b, time.Now())
		fillCache(b, s.Store.(*countingStore).Cache, n)
		s.Usage = usage.NewRecorder(time.Now)
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			req := check.Request{ProjectID: "prj_a", MinRole: gatepassv1.Role_ROLE_TESTER, ClientIP: netip.MustParseAddr("10.0.0.1")}
			secret := sec.String()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					a, err := s.Decide(secret, req)
					if err != nil || !a.Active() {
						b.Fatal(a, err)
					}
				}
			})
		})
	}
}

// fillCache adds n active tokens to c, in large batches.
func fillCache(b *testing.B, c *cache.Cache, n int) {
	b.Helper()
	const batch = 20_000
	items := make([]cache.Item, 0, batch)
	expire := timestamppb.New(time.Now().Add(time.Hour))
	for i := range n {
		var d token.Digest
		binary.BigEndian.PutUint64(d[:], uint64(i)*0x9E3779B97F4A7C15)
		binary.BigEndian.PutUint64(d[8:], uint64(i))
		items = append(items, cache.Item{Sequence: uint64(10 + i), Token: &gatepassv1.TokenState{SecretSha256: d[:], Token: &gatepassv1.Token{
			Id: fmt.Sprintf("tok_fill%07d", i), WorkspaceId: "ws_1", Role: gatepassv1.Role_ROLE_TESTER, OwnerId: "mem_1",
			Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, ExpireTime: expire, Version: 1,
		}}})
		if len(items) == batch || i == n-1 {
			if _, err := c.Apply(items); err != nil {
				b.Fatal(err)
			}
			items = items[:0]
		}
	}
}
