package fakeclock

import (
	"testing"
	"time"
)

func TestTickFiresAsTheClockPasses(t *testing.T) {
	t.Parallel()
	c := New(time.Unix(0, 0))
	ticks, stop := c.Tick(time.Second)
	c.Add(999 * time.Millisecond)
	select {
	case <-ticks:
		t.Fatal("ticked before the interval passed")
	default:
	}
	c.Add(time.Millisecond)
	select {
	case at := <-ticks:
		if !at.Equal(time.Unix(1, 0)) {
			t.Fatalf("tick at %v", at)
		}
	default:
		t.Fatal("no tick once the interval passed")
	}
	c.Add(5 * time.Second) // several intervals: one tick, as a real ticker drops
	<-ticks
	select {
	case <-ticks:
		t.Fatal("more than one tick buffered")
	default:
	}
	stop()
	if c.Tickers() != 0 {
		t.Fatal("stopped ticker still registered")
	}
	c.Add(time.Hour)
	select {
	case <-ticks:
		t.Fatal("a stopped ticker ticked")
	default:
	}
}
