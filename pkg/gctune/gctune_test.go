package gctune

import "testing"

func TestPercent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		live uint64
		want int
	}{{0, 100}, {4 << 20, 800}, {16 << 20, 400}, {64 << 20, 100}, {128 << 20, 50}, {1 << 30, 50}} {
		if got := Percent(tt.live); got != tt.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tt.live>>20, got, tt.want)
		}
	}
}
