package store

// unsealed is an event enqueued in a transaction and not yet signed.
type unsealed struct {
	bucket  []byte
	idx     uint64
	subject string
	id      string
	payload []byte
}

// sealAll signs the events the transaction enqueued and writes them to
// the outbox. The events of a commit are signed together (one signature
// per event.BatchLimit of them, each envelope carrying its place in the
// batch): signing them one by one was most of what an event cost.
func (tx *Tx) sealAll() error {
	evs := tx.unsealed
	tx.unsealed = nil
	if len(evs) == 0 {
		return nil
	}
	payloads := make([][]byte, len(evs))
	for i, e := range evs {
		payloads[i] = e.payload
	}
	sealed, err := tx.s.sealBatch(payloads)
	if err != nil {
		return err
	}
	for i, e := range evs {
		// Value: subject, NUL, event id, NUL, sealed envelope.
		v := make([]byte, 0, len(e.subject)+len(e.id)+2+len(sealed[i]))
		v = append(v, e.subject...)
		v = append(v, 0)
		v = append(v, e.id...)
		v = append(v, 0)
		v = append(v, sealed[i]...)
		if err := tx.appending(e.bucket).Put(seqKey(e.idx), v); err != nil {
			return err
		}
	}
	return nil
}
