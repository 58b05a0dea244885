package token

import (
	"strings"
	"testing"
)

func TestContainsSecret(t *testing.T) {
	t.Parallel()
	gp, _ := Format{}.Mint()
	other, _ := Format{Prefix: "acme"}.Mint()
	fake := "gp_" + strings.Repeat("A", 36)
	for s, want := range map[string]bool{
		gp.String():                           true,
		"rotated, old one was " + gp.String(): true,
		"x" + gp.String() + "y":               true,
		"leaked: " + other.String() + ".":     true,
		"ci-regression-runner":                false,
		fake:                                  false, // no valid checksum
		"tok_0VcLk2ndXhaKoVUmqn39Zk":          false,
		gp.String()[:len(gp.String())-1]:      false,
	} {
		if got := ContainsSecret(s); got != want {
			t.Errorf("ContainsSecret(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestAppendRandom(t *testing.T) {
	t.Parallel()
	b, err := AppendRandom([]byte("tok_"), 200)
	if err != nil || len(b) != 204 || string(b[:4]) != "tok_" {
		t.Fatalf("AppendRandom = %q, %v", b, err)
	}
	for _, c := range b[4:] {
		if !strings.ContainsRune(Alphabet, rune(c)) {
			t.Fatalf("%q is not base62", c)
		}
	}
}
