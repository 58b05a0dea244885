package lifecycle

import (
	"context"
	"testing"
	"time"
)

// TestDigestOncePerInterval: the review digest goes out a week after the
// workspace was created, then once a week, never twice in one.
func TestDigestOncePerInterval(t *testing.T) {
	t.Parallel()
	s, owner, clk := newService(t)
	hook, _, err := s.CreateWebhook(context.Background(), owner, "https://203.0.113.10/hooks", nil)
	if err != nil {
		t.Fatal(err)
	}
	const week = 7 * day
	for _, step := range []struct {
		after time.Duration
		sent  int
	}{{6 * day, 0}, {day, 1}, {time.Hour, 0}, {week, 1}} {
		clk.Add(step.after)
		n, err := s.SendDigests(week)
		if err != nil || n != step.sent {
			t.Fatalf("after %v more: sent %d (%v), want %d", step.after, n, err, step.sent)
		}
	}
	if got := noticesOf(t, s, owner, hook.GetId()); len(got) != 2 || got[0] != "review.digest" {
		t.Fatalf("notices %v", got)
	}
}
