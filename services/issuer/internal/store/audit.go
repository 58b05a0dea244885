package store

import (
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Audit appends an audit record and queues it for the audit stream.
func (tx *Tx) Audit(a *gatepassv1.AuditEvent) error {
	b := tx.appending(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	a.Id = fmt.Sprintf("aud_%016x", seq)
	a.Time = timestamppb.New(tx.s.now())
	if err := put(tx, bucketAudit, string(seqKey(seq)), a); err != nil {
		return err
	}
	_, err = tx.enqueue(propagation.LaneAudit, &gatepassv1.Event{Body: &gatepassv1.Event_Audit{Audit: a}})
	return err
}

// ScanAudit calls fn for a workspace's audit records, newest first,
// starting before the record id before ("" starts at the newest), until fn
// returns false.
func (tx *Tx) ScanAudit(workspaceID, before string, fn func(*gatepassv1.AuditEvent) bool) error {
	c := tx.btx.Bucket(bucketAudit).Cursor()
	var k, v []byte
	if before == "" {
		k, v = c.Last()
	} else {
		var seq uint64
		if _, err := fmt.Sscanf(before, "aud_%016x", &seq); err != nil {
			return fmt.Errorf("audit cursor: %w", err)
		}
		c.Seek(seqKey(seq))
		k, v = c.Prev()
	}
	for ; k != nil; k, v = c.Prev() {
		a := &gatepassv1.AuditEvent{}
		if err := proto.Unmarshal(v, a); err != nil {
			return fmt.Errorf("decode audit event: %w", err)
		}
		if a.GetWorkspaceId() == workspaceID && !fn(a) {
			return nil
		}
	}
	return nil
}
