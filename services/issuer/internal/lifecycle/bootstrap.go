package lifecycle

import (
	"fmt"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Bootstrap names what Bootstrap creates.
type Bootstrap struct {
	Workspace string
	Owner     string
	Email     string
	// TokenTTL is the owner token's lifetime; 0 makes it never expire.
	TokenTTL time.Duration
}

// Bootstrap creates the first workspace, its owner member and an owner
// token, and returns the token's secret, to be printed once. It fails with
// store.ErrBootstrapped if run before.
func (s *Service) Bootstrap(b Bootstrap) (secret string, err error) {
	sec, err := s.Format.Mint()
	if err != nil {
		return "", err
	}
	now := s.Now()
	ws := &gatepassv1.Workspace{Id: store.NewID("ws", now), Name: b.Workspace, CreateTime: timestamppb.New(now)}
	m := &gatepassv1.Member{
		Id: store.NewID("mem", now), WorkspaceId: ws.GetId(), DisplayName: b.Owner, Email: b.Email,
		Role: gatepassv1.Role_ROLE_OWNER, State: gatepassv1.MemberState_MEMBER_STATE_ACTIVE,
		CreateTime: timestamppb.New(now), UpdateTime: timestamppb.New(now),
	}
	t := &gatepassv1.Token{
		Name:        "bootstrap-owner",
		Description: "Owner token created by init. Create narrower tokens with it, then revoke it.",
		WorkspaceId: ws.GetId(),
		Role:        gatepassv1.Role_ROLE_OWNER,
		OwnerId:     m.GetId(),
	}
	if b.TokenTTL > 0 {
		t.ExpireTime = timestamppb.New(now.Add(b.TokenTTL))
	} else {
		t.NeverExpires = true
	}
	err = s.Store.Update(func(tx *store.Tx) error {
		if err := tx.MarkBootstrapped(ws.GetId()); err != nil {
			return err
		}
		if err := tx.PutWorkspace(ws); err != nil {
			return err
		}
		if err := tx.PutMember(m); err != nil {
			return err
		}
		_, _, err := s.putNewToken(tx, sec, t, access.Principal{MemberID: m.GetId()})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	s.notify()
	return sec.String(), nil
}
