package publish

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/nats-io/nats.go"
)

const (
	// atomicFrom is the smallest batch published atomically. On a single
	// server JetStream stages an atomic batch in a store of its own, which
	// costs about as much as 15 syncs; from there on one sync for the
	// whole batch wins (64 entries: 4 ms instead of 14 ms here).
	atomicFrom = 24
	// maxAtomic is JetStream's default limit on an atomic batch.
	maxAtomic = 1000
)

// batchAck is JetStream's answer to an atomic batch's commit.
type batchAck struct {
	Stream   string `json:"stream"`
	Seq      uint64 `json:"seq"`
	Batch    string `json:"batch"`
	Count    int    `json:"count"`
	APIError *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// publishAtomic publishes entries as one atomic batch: JetStream stores
// all of them, one after the other, or none. The commit's acknowledgement
// names the last sequence and the count, so entry i is at
// last-count+1+i. An error leaves it unknown whether the batch is stored;
// publishing the entries again is safe (deduplicated by their ids).
func (s *Stream) publishAtomic(ctx context.Context, entries []propagation.Entry) ([]uint64, error) {
	nc := s.js.Conn()
	id := rand.Text()
	for i, e := range entries {
		m := &nats.Msg{Subject: e.Subject, Data: e.Data, Header: nats.Header{}}
		m.Header.Set(nats.MsgIdHdr, e.EventID)
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(entries)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return nil, fmt.Errorf("publish event %s: %w", e.EventID, err)
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		resp, err := nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("commit atomic batch of %d events: %w", len(entries), err)
		}
		return batchSeqs(resp.Data, id, len(entries))
	}
	return nil, nil
}

// batchSeqs checks a commit's acknowledgement and returns the sequence of
// each of the n entries. A server that does not know atomic batches stores
// each message alone and acknowledges the commit as one message: the
// acknowledgement must name this batch and its size.
func batchSeqs(data []byte, id string, n int) ([]uint64, error) {
	var ack batchAck
	if err := json.Unmarshal(data, &ack); err != nil {
		return nil, fmt.Errorf("atomic batch acknowledgement: %w", err)
	}
	if ack.APIError != nil {
		return nil, fmt.Errorf("atomic batch refused: %s (%d)", ack.APIError.Description, ack.APIError.ErrCode)
	}
	if ack.Batch != id || ack.Count != n || ack.Seq < uint64(n) {
		return nil, fmt.Errorf("atomic batch acknowledged as %q, %d messages, last %d; want %q, %d", ack.Batch, ack.Count, ack.Seq, id, n)
	}
	seqs := make([]uint64, n)
	for i := range seqs {
		seqs[i] = ack.Seq - uint64(n-1-i)
	}
	return seqs, nil
}

// allIn reports whether every entry goes to stream.
func allIn(entries []propagation.Entry, stream string) bool {
	for _, e := range entries {
		if event.StreamOf(e.Subject) != stream {
			return false
		}
	}
	return true
}

// AtomicFallbacks returns how many atomic batches were refused and sent
// again entry by entry.
func (s *Stream) AtomicFallbacks() int64 { return s.atomicFailed.Load() }
