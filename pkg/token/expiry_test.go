package token

import (
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestExpired(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_000_000, 0)
	tok := &gatepassv1.Token{ExpireTime: timestamppb.New(at)}
	for now, want := range map[time.Time]bool{at.Add(-time.Nanosecond): false, at: true, at.Add(time.Hour): true} {
		if got := Expired(tok, now); got != want {
			t.Errorf("Expired at %v = %v, want %v", now.Sub(at), got, want)
		}
	}
	if Expired(&gatepassv1.Token{NeverExpires: true}, at) {
		t.Error("a never-expiring token expired")
	}
}
