package lifecycle

import (
	"encoding/json"
	"strings"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/roles"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// Notices are written in the transaction of the change they tell of (see
// store.Tx.Notify); package notify delivers them. Their body follows the
// Standard Webhooks shape: {"type", "timestamp", "data"}.

const day = 24 * time.Hour

type noticeBody struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// tokenNotice is the data of a token's notice: what it is and why, never
// its secret.
type tokenNotice struct {
	TokenID     string     `json:"token_id"`
	Name        string     `json:"name"`
	WorkspaceID string     `json:"workspace_id"`
	ProjectID   string     `json:"project_id,omitempty"`
	Role        string     `json:"role"`
	OwnerID     string     `json:"owner_id"`
	Status      string     `json:"status"`
	Reason      string     `json:"reason,omitempty"`
	ExpireTime  *time.Time `json:"expire_time,omitempty"`
	// ExpiresIn is, for token.expiring, the time left, e.g. "168h0m0s".
	ExpiresIn string `json:"expires_in,omitempty"`
	// Actor is the token that made the change ("" for a schedule).
	Actor string `json:"actor_token_id,omitempty"`
	// Source is where a leaked token was found.
	Source string `json:"source_url,omitempty"`
}

func (s *Service) notice(tx *store.Tx, workspaceID string, t gatepassv1.NoticeType, data any) error {
	now := s.Now()
	body, err := json.Marshal(noticeBody{Type: store.NoticeName(t), Timestamp: now.UTC(), Data: data})
	if err != nil {
		return err
	}
	return tx.Notify(&gatepassv1.Notice{WorkspaceId: workspaceID, Type: t, Body: body}, now)
}

func (s *Service) tokenNotice(tx *store.Tx, typ gatepassv1.NoticeType, t *gatepassv1.Token, actor string) error {
	n := s.tokenData(t, actor)
	if typ == gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_EXPIRING && n.ExpireTime != nil {
		n.ExpiresIn = n.ExpireTime.Sub(s.Now()).Round(time.Second).String()
	}
	return s.notice(tx, t.GetWorkspaceId(), typ, n)
}

// tokenData is what a notice tells of a token.
func (s *Service) tokenData(t *gatepassv1.Token, actor string) tokenNotice {
	n := tokenNotice{
		TokenID: t.GetId(), Name: t.GetName(), WorkspaceID: t.GetWorkspaceId(), ProjectID: t.GetProjectId(),
		Role: roles.Name(t.GetRole()), OwnerID: t.GetOwnerId(), Status: statusName(t.GetStatus()),
		Reason: t.GetStatusReason(), Actor: actor,
	}
	if t.GetExpireTime() != nil {
		at := t.GetExpireTime().AsTime().UTC()
		n.ExpireTime = &at
	}
	return n
}

func statusName(st gatepassv1.TokenStatus) string {
	return access.Status(st).String()
}

// changeNotice is the notice of a lifecycle action, if it has one.
func changeNotice(a access.Action) gatepassv1.NoticeType {
	switch a {
	case access.Disable:
		return gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_DISABLED
	case access.Revoke:
		return gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_REVOKED
	}
	return gatepassv1.NoticeType_NOTICE_TYPE_UNSPECIFIED
}

// scheduleExpiry schedules a new token's token.expiring notices (at each
// of the workspace's expiry_notice_days before it expires) and its
// token.expired notice, through the schedule index: O(log n) each, and
// restart-safe. Thresholds already past go out at once, as one notice.
func (s *Service) scheduleExpiry(tx *store.Tx, t *gatepassv1.Token) error {
	if t.GetExpireTime() == nil {
		return nil
	}
	pol, err := tx.Policy(t.GetWorkspaceId())
	if err != nil {
		return err
	}
	now, expire := s.Now(), t.GetExpireTime().AsTime()
	passed := false
	for _, d := range policy.Effective(pol).GetExpiryNoticeDays() {
		at := expire.Add(-time.Duration(d) * day)
		if !at.After(now) {
			passed = true
			continue
		}
		if err := tx.Schedule(at, scheduleExpiring, t.GetId()); err != nil {
			return err
		}
	}
	if passed {
		if err := s.tokenNotice(tx, gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_EXPIRING, t, ""); err != nil {
			return err
		}
	}
	return tx.Schedule(expire, scheduleExpired, t.GetId())
}

// noticeDue sends a scheduled token.expiring or token.expired notice,
// unless the token was revoked or its expiry is no longer the one the
// notice was scheduled for.
func (s *Service) noticeDue(tx *store.Tx, d store.Scheduled) error {
	if err := tx.Unschedule(d); err != nil {
		return err
	}
	st, err := tx.Token(d.TokenID)
	if err != nil {
		return err
	}
	t := st.GetToken()
	if t.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED || t.GetExpireTime() == nil {
		return nil
	}
	expire := t.GetExpireTime().AsTime()
	if d.Action == scheduleExpired {
		if !expire.Equal(d.At) {
			return nil
		}
		return s.tokenNotice(tx, gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_EXPIRED, t, "")
	}
	if left := expire.Sub(d.At); left <= 0 || left%day != 0 {
		return nil // scheduled for an expiry the token no longer has
	}
	return s.tokenNotice(tx, gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_EXPIRING, t, "")
}

// AttemptNotice is the token.attempt notice (usage.Ingester's Canary): a
// disabled or revoked token was presented, so something still holds it.
func (s *Service) AttemptNotice(tx *store.Tx, t *gatepassv1.Token, a *gatepassv1.Attempt) error {
	return s.notice(tx, t.GetWorkspaceId(), gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_ATTEMPT, struct {
		tokenNotice
		Refused  string    `json:"refused"`
		ClientIP string    `json:"client_ip,omitempty"`
		Count    int64     `json:"count"`
		LastTime time.Time `json:"last_time"`
	}{s.tokenData(t, ""), strings.ToLower(strings.TrimPrefix(a.GetReason().String(), "REASON_")), a.GetClientIp(), a.GetCount(), a.GetLastTime().AsTime().UTC()})
}

// memberRemovedNotice tells that a member left, and how many of their
// tokens were disabled with them.
func (s *Service) memberRemovedNotice(tx *store.Tx, p access.Principal, m *gatepassv1.Member, disabled int) error {
	return s.notice(tx, m.GetWorkspaceId(), gatepassv1.NoticeType_NOTICE_TYPE_MEMBER_REMOVED, struct {
		MemberID       string `json:"member_id"`
		DisplayName    string `json:"display_name"`
		TokensDisabled int    `json:"tokens_disabled"`
		Actor          string `json:"actor_token_id"`
	}{m.GetId(), m.GetDisplayName(), disabled, p.TokenID})
}
