package config

import (
	"io"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	t.Parallel()
	env := map[string]string{"A": "from-env", "D": "3s", "N": "7", "B": "true"}
	l := NewLoader("x", func(k string) string { return env[k] }, io.Discard)
	var a, c string
	var d time.Duration
	var n int
	var b bool
	l.String(&a, "a", "A", "def", "")
	l.String(&c, "c", "C", "def", "")
	l.Duration(&d, "d", "D", time.Second, "")
	l.Int(&n, "n", "N", 1, "")
	l.Bool(&b, "b", "B", false, "")
	if err := l.Parse([]string{"-n", "9"}); err != nil {
		t.Fatal(err)
	}
	if a != "from-env" || c != "def" || d != 3*time.Second || n != 9 || !b {
		t.Fatalf("got a=%q c=%q d=%v n=%d b=%v", a, c, d, n, b)
	}
}

func TestBadEnv(t *testing.T) {
	t.Parallel()
	l := NewLoader("x", func(string) string { return "soon" }, io.Discard)
	var d time.Duration
	l.Duration(&d, "d", "D", time.Second, "")
	if err := l.Parse(nil); err == nil {
		t.Fatal("bad duration accepted")
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	got := List(" a, ,b ,, c")
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("List = %q", got)
	}
	if List("") != nil {
		t.Fatal("empty list not nil")
	}
}
