package token

import (
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func mustMint(t testing.TB, f Format) Secret {
	t.Helper()
	s, err := f.Mint()
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return s
}

func TestMintParseRoundTrip(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "gp", "acme2"} {
		f := Format{Prefix: prefix}
		seen := map[string]bool{}
		for range 200 {
			s := mustMint(t, f)
			if seen[s.String()] {
				t.Fatalf("Mint repeated a secret")
			}
			seen[s.String()] = true
			got, err := f.Parse(s.String())
			if err != nil {
				t.Fatalf("Parse(minted): %v", err)
			}
			if got.Digest() != s.Digest() {
				t.Fatalf("digest changed across parse")
			}
			if !strings.HasSuffix(s.String(), s.Hint()) || len(s.Hint()) != HintLen {
				t.Fatalf("hint %q is not the last %d characters", s.Hint(), HintLen)
			}
		}
	}
}

func TestPatternMatchesMinted(t *testing.T) {
	t.Parallel()
	s := mustMint(t, Format{})
	line := "export API_TOKEN=" + s.String() + " # leaked"
	if got := Pattern.FindString(line); got != s.String() {
		t.Fatalf("Pattern found %q, want the secret", got)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	good := mustMint(t, Format{}).String()
	flipped := []byte(good)
	// Change one random character: the checksum must catch it.
	if flipped[5] == 'a' {
		flipped[5] = 'b'
	} else {
		flipped[5] = 'a'
	}
	// Another base62 character in the checksum's place (XOR 1 turned a
	// final 'z' or 'Z' into a character outside the alphabet, one mint in
	// 31).
	badSum := []byte(good)
	if badSum[len(badSum)-1] == '0' {
		badSum[len(badSum)-1] = '1'
	} else {
		badSum[len(badSum)-1] = '0'
	}
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"empty", "", ErrPrefix},
		{"other prefix", "xx" + good[2:], ErrPrefix},
		{"no underscore", "gpx" + good[3:], ErrPrefix},
		{"short", good[:len(good)-1], ErrLength},
		{"long", good + "0", ErrLength},
		{"bad character", good[:10] + "-" + good[11:], ErrAlphabet},
		{"non-ascii", good[:10] + "é" + good[12:], ErrAlphabet},
		{"flipped character", string(flipped), ErrChecksum},
		{"bad checksum", string(badSum), ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Format{}.Parse(tt.in)
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error = %v, want %v", err, tt.wantErr)
			}
			if tt.in != "" && strings.Contains(err.Error(), tt.in) {
				t.Fatalf("error quotes the input")
			}
		})
	}
}

func TestDigestEqual(t *testing.T) {
	t.Parallel()
	a, b := mustMint(t, Format{}), mustMint(t, Format{})
	da := a.Digest()
	if !da.Equal(da[:]) {
		t.Fatal("digest not equal to itself")
	}
	db := b.Digest()
	if da.Equal(db[:]) || da.Equal(nil) {
		t.Fatal("different digests compare equal")
	}
}

func TestValidatePrefix(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"gp", "a", "acme9"} {
		if err := ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "GP", "9a", "a_b", "abcdefghijklmnopq"} {
		if ValidatePrefix(p) == nil {
			t.Errorf("ValidatePrefix(%q) accepted", p)
		}
	}
}

func FuzzParse(f *testing.F) {
	good := mustMint(f, Format{}).String()
	for _, s := range []string{"", "gp_", good, good[:len(good)-1], good + "x", "xx" + good[2:], good[:10] + "-" + good[11:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sec, err := Format{}.Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// Anything accepted must be a secret the pattern finds, whole.
		if sec.String() != s || Pattern.FindString(s) != s {
			t.Fatalf("accepted %q that the pattern does not match", s)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	s := mustMint(b, Format{}).String()
	b.ReportAllocs()
	for b.Loop() {
		sec, err := Format{}.Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		_ = sec.Digest()
	}
}

func TestChecksumIsCRC32(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "gp_", "gp_0123456789abcdefABCDEF", strings.Repeat("z", 300)} {
		if got, want := crcIEEE(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Fatalf("crcIEEE(%q) = %08x, want %08x", s, got, want)
		}
	}
}
