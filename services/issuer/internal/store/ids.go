package store

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gatepass/gatepass/pkg/token"
)

// NewID returns a public id such as "tok_0Sd4XkM2b9QpZr7hVw1cYe": a kind
// prefix, eight base62 characters of milliseconds since the Unix epoch (so
// ids sort by creation time), and 14 random base62 characters.
func NewID(kind string, now time.Time) string {
	b := make([]byte, 0, len(kind)+1+22)
	b = append(b, kind...)
	b = append(b, '_')
	ms := uint64(now.UnixMilli())
	var ts [8]byte
	for i := 7; i >= 0; i-- {
		ts[i] = token.Alphabet[ms%62]
		ms /= 62
	}
	b = append(b, ts[:]...)
	b, err := token.AppendRandom(b, 14)
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return string(b)
}

func newEventID(now time.Time, seq uint64) string {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return fmt.Sprintf("ev_%d_%d_%x", now.UnixNano(), seq, binary.BigEndian.Uint64(r[:]))
}
