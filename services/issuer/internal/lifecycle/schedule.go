package lifecycle

import (
	"context"
	"fmt"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// Scheduled actions stored with store.Schedule.
const (
	scheduleDisable  byte = 'd'
	scheduleRevoke   byte = 'r'
	scheduleExpiring byte = 'n' // a token.expiring notice
	scheduleExpired  byte = 'x' // the token.expired notice
)

// RunSchedules applies scheduled disables and revokes as they fall due,
// every tick of ticks, until ctx ends. Schedules live in the database, so
// they survive restarts; one missed while the issuer was down fires at the
// next start.
func (s *Service) RunSchedules(ctx context.Context, ticks <-chan time.Time) {
	for {
		if err := s.ApplyDue(); err != nil && ctx.Err() == nil {
			s.log().Error("apply scheduled changes", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
	}
}

// ApplyDue applies every scheduled change due now, each in its own
// transaction. A schedule that a manual disable or revoke has cancelled,
// or whose change was already made by hand, is dropped.
func (s *Service) ApplyDue() error {
	due, err := s.Store.Due(s.Now())
	if err != nil || len(due) == 0 {
		return err
	}
	for _, d := range due {
		if d.Action == scheduleExpiring || d.Action == scheduleExpired {
			if err := s.Store.Update(func(tx *store.Tx) error { return s.noticeDue(tx, d) }); err != nil {
				return fmt.Errorf("scheduled notice for %s: %w", d.TokenID, err)
			}
			continue
		}
		a := access.Disable
		if d.Action == scheduleRevoke {
			a = access.Revoke
		}
		if err := s.Store.Update(func(tx *store.Tx) error { return s.applyDue(tx, d, a) }); err != nil {
			return fmt.Errorf("scheduled %s of %s: %w", a, d.TokenID, err)
		}
		s.log().Info("scheduled change applied", "action", a.String(), "token_id", d.TokenID)
	}
	s.notify()
	return nil
}

func (s *Service) applyDue(tx *store.Tx, d store.Scheduled, a access.Action) error {
	if err := tx.Unschedule(d); err != nil {
		return err
	}
	st, err := tx.Token(d.TokenID)
	if err != nil {
		return err
	}
	if _, err := access.Transition(access.Status(st.GetToken().GetStatus()), a); err != nil {
		return nil // already done by hand: nothing left to do
	}
	// A manual disable or revoke since cancelled the schedule: the token no
	// longer carries it.
	planned := st.GetToken().GetScheduledDisableTime()
	if a == access.Revoke {
		planned = st.GetToken().GetScheduledRevokeTime()
	}
	if planned == nil || !planned.AsTime().Equal(d.At) {
		return nil
	}
	actor := &gatepassv1.AuditEvent{Details: map[string]string{"by": "schedule", "due": d.At.UTC().Format(time.RFC3339)}}
	_, err = s.applyChange(tx, st, a, "scheduled by rotation", actor)
	return err
}
