package lifecycle

import (
	"context"
	"strings"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// digestTop bounds the findings a digest lists; it counts them all.
const digestTop = 20

type digestFinding struct {
	TokenID  string `json:"token_id"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

type digest struct {
	WorkspaceID string          `json:"workspace_id"`
	Findings    int             `json:"findings"`
	ByType      map[string]int  `json:"by_type"`
	BySeverity  map[string]int  `json:"by_severity"`
	Top         []digestFinding `json:"top"`
}

// RunDigests sends each workspace's review digest once every interval,
// checking at every tick, until ctx ends. When each was last sent is kept
// in the database, so restarts neither repeat nor skip one.
func (s *Service) RunDigests(ctx context.Context, ticks <-chan time.Time, every time.Duration) {
	for {
		if _, err := s.SendDigests(every); err != nil && ctx.Err() == nil {
			s.log().Error("send review digests", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
	}
}

// SendDigests sends the review.digest notice of every workspace whose last
// one (or, for the first, its creation) is at least every ago, and returns
// how many it sent.
func (s *Service) SendDigests(every time.Duration) (int, error) {
	var due []string
	err := s.Store.View(func(tx *store.Tx) error {
		for _, ws := range tx.WorkspaceIDs() {
			if s.digestDue(tx, ws, every) {
				due = append(due, ws)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, ws := range due {
		findings, _, err := s.Review(access.Principal{WorkspaceID: ws, Role: access.RoleOwner}, "")
		if err != nil {
			return sent, err
		}
		err = s.Store.Update(func(tx *store.Tx) error {
			if !s.digestDue(tx, ws, every) {
				return nil
			}
			sent++
			if err := s.notice(tx, ws, gatepassv1.NoticeType_NOTICE_TYPE_REVIEW_DIGEST, digestOf(ws, findings)); err != nil {
				return err
			}
			return tx.PutLastDigest(ws, s.Now())
		})
		if err != nil {
			return sent, err
		}
	}
	if sent > 0 {
		s.notify()
	}
	return sent, nil
}

func (s *Service) digestDue(tx *store.Tx, ws string, every time.Duration) bool {
	last := tx.LastDigest(ws)
	if last.IsZero() {
		w, err := tx.Workspace(ws)
		if err != nil {
			return false
		}
		last = w.GetCreateTime().AsTime()
	}
	return s.Now().Sub(last) >= every
}

func digestOf(ws string, findings []*gatepassv1.Finding) digest {
	d := digest{WorkspaceID: ws, Findings: len(findings), ByType: map[string]int{}, BySeverity: map[string]int{}, Top: []digestFinding{}}
	for _, f := range findings {
		typ := strings.ToLower(strings.TrimPrefix(f.GetType().String(), "FINDING_TYPE_"))
		sev := strings.ToLower(strings.TrimPrefix(f.GetSeverity().String(), "SEVERITY_"))
		d.ByType[typ]++
		d.BySeverity[sev]++
		if len(d.Top) < digestTop { // findings come most severe first
			d.Top = append(d.Top, digestFinding{f.GetTokenId(), f.GetTokenName(), typ, sev, f.GetMessage()})
		}
	}
	return d
}
