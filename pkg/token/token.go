package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
)

const (
	// DefaultPrefix starts every secret unless configured otherwise.
	DefaultPrefix = "gp"
	// RandomLen is the number of random base62 characters (about 178 bits).
	RandomLen = 30
	// ChecksumLen is the number of base62 characters of the CRC32 checksum.
	ChecksumLen = 6
	// HintLen is the length of the hint shown in lists.
	HintLen = 4

	alphabet = Alphabet
)

// Alphabet is base62, in the order secrets, checksums and gatepass ids use.
const Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// AppendRandom appends n characters of Alphabet drawn uniformly from
// crypto/rand (bytes that would bias the draw are rejected).
func AppendRandom(b []byte, n int) ([]byte, error) {
	var buf [64]byte
	for want := len(b) + n; len(b) < want; {
		if _, err := rand.Read(buf[:]); err != nil {
			return b, err
		}
		for _, c := range buf {
			// Reject bytes that would bias the choice: 248 = 4*62.
			if c >= 248 || len(b) == want {
				continue
			}
			b = append(b, Alphabet[c%62])
		}
	}
	return b, nil
}

// Pattern matches secrets with the default prefix; see the package doc.
var Pattern = regexp.MustCompile(`\b` + DefaultPrefix + `_[0-9A-Za-z]{36}\b`)

// ErrMalformed is returned (wrapped by the more precise errors below) when a
// string is not a well-formed secret.
var ErrMalformed = errors.New("malformed token")

var (
	// ErrPrefix is returned when the secret does not start with the prefix.
	ErrPrefix = fmt.Errorf("%w: wrong prefix", ErrMalformed)
	// ErrLength is returned when the secret has the wrong length.
	ErrLength = fmt.Errorf("%w: wrong length", ErrMalformed)
	// ErrAlphabet is returned when the secret has a character outside base62.
	ErrAlphabet = fmt.Errorf("%w: character outside base62", ErrMalformed)
	// ErrChecksum is returned when the checksum does not match.
	ErrChecksum = fmt.Errorf("%w: checksum mismatch", ErrMalformed)
)

var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)

// Format mints and parses secrets with one prefix. The zero value uses
// DefaultPrefix.
type Format struct {
	Prefix string
}

// Digest is the SHA-256 of a whole secret.
type Digest [sha256.Size]byte

// Secret is a parsed, well-formed secret.
type Secret struct {
	s string
}

// String returns the secret itself. Handle with care.
func (s Secret) String() string { return s.s }

// Digest returns the SHA-256 of the whole secret.
// The copy goes through a stack buffer: validation allocates nothing here.
func (s Secret) Digest() Digest {
	var buf [128]byte
	return sha256.Sum256(append(buf[:0], s.s...))
}

// Hint returns the last four characters, safe to show in lists.
func (s Secret) Hint() string { return s.s[len(s.s)-HintLen:] }

// Equal reports whether two digests are equal, in constant time.
func (d Digest) Equal(other []byte) bool {
	return subtle.ConstantTimeCompare(d[:], other) == 1
}

func (f Format) prefix() string {
	if f.Prefix == "" {
		return DefaultPrefix
	}
	return f.Prefix
}

// ValidatePrefix reports whether p can serve as a prefix: a lower-case letter
// then up to 15 lower-case letters or digits.
func ValidatePrefix(p string) error {
	if !prefixPattern.MatchString(p) {
		return fmt.Errorf("token prefix must match %s", prefixPattern)
	}
	return nil
}

// Mint returns a new random secret.
func (f Format) Mint() (Secret, error) {
	p := f.prefix()
	b := make([]byte, 0, len(p)+1+RandomLen+ChecksumLen)
	b = append(b, p...)
	b = append(b, '_')
	b, err := AppendRandom(b, RandomLen)
	if err != nil {
		return Secret{}, fmt.Errorf("mint token: %w", err)
	}
	b = appendChecksum(b, crc32.ChecksumIEEE(b))
	return Secret{s: string(b)}, nil
}

// Parse checks that s is a well-formed secret of this format. It does no
// lookup, and its errors never contain s.
func (f Format) Parse(s string) (Secret, error) {
	p := f.prefix()
	want := len(p) + 1 + RandomLen + ChecksumLen
	if len(s) < len(p)+1 || s[:len(p)] != p || s[len(p)] != '_' {
		return Secret{}, ErrPrefix
	}
	if len(s) != want {
		return Secret{}, ErrLength
	}
	body := s[len(p)+1:]
	for i := 0; i < len(body); i++ {
		if decodeChar(body[i]) < 0 {
			return Secret{}, ErrAlphabet
		}
	}
	split := len(s) - ChecksumLen
	var buf [2 * ChecksumLen]byte // parsing allocates nothing: validation's hot path
	sum := appendChecksum(buf[:0], crcIEEE(s[:split]))
	if subtle.ConstantTimeCompare(sum, append(sum[len(sum):], s[split:]...)) != 1 {
		return Secret{}, ErrChecksum
	}
	return Secret{s: s}, nil
}

// crcIEEE is crc32.ChecksumIEEE of a string, without the copy to bytes
// that would escape to the heap.
func crcIEEE(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// appendChecksum appends v in base62, left-padded to ChecksumLen characters.
func appendChecksum(b []byte, v uint32) []byte {
	var out [ChecksumLen]byte
	for i := ChecksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return append(b, out[:]...)
}

func decodeChar(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}
