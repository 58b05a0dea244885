package gctune

import "testing"

func TestPercent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		live  uint64
		want  int
		floor int
	}{{0, 100, 50}, {4 << 20, 800, 50}, {16 << 20, 400, 50}, {64 << 20, 100, 50}, {128 << 20, 50, 50}, {1 << 30, 50, 50},
		{128 << 20, 100, 100}, {1 << 30, 100, 100}, {16 << 20, 400, 100}} {
		if got := Percent(tt.live, tt.floor); got != tt.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tt.live>>20, got, tt.want)
		}
	}
}
