package rpc

import (
	"context"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/proto"
)

// Issuer implements gatepass.v1.IssuerService.
type Issuer struct {
	gatepassv1.UnimplementedIssuerServiceServer
	*Deps
}

// CreateToken implements IssuerService.
func (s *Issuer) CreateToken(ctx context.Context, req *gatepassv1.CreateTokenRequest) (*gatepassv1.CreateTokenResponse, error) {
	c, err := s.Lifecycle.Create(principal(ctx), lifecycle.NewToken{
		Name: req.GetName(), Description: req.GetDescription(),
		ProjectID: req.GetProjectId(), Role: req.GetRole(),
		ExpireTime: req.GetExpireTime(), NeverExpires: req.GetNeverExpires(),
		OwnerID: req.GetOwnerId(), AllowedCIDRs: req.GetAllowedCidrs(), SelfRotate: req.GetSelfRotate(),
		Justification: req.GetNeverExpiresJustification(),
	})
	if err != nil {
		return nil, toStatus(err, "project or owner")
	}
	return &gatepassv1.CreateTokenResponse{Token: c.Token, Secret: c.Secret, Receipt: s.propagate(ctx, c.EventID)}, nil
}

// withUsage returns t with the usage statistics validators reported.
func withUsage(tx *store.Tx, t *gatepassv1.Token) (*gatepassv1.Token, error) {
	u, err := tx.Usage(t.GetId())
	if err != nil {
		return nil, err
	}
	t = proto.CloneOf(t)
	t.UseCount = u.GetUseCount()
	t.LastUsedTime = u.GetLastUsedTime()
	t.LastUsedIp = u.GetLastUsedIp()
	return t, nil
}

// GetToken implements IssuerService.
func (s *Issuer) GetToken(ctx context.Context, req *gatepassv1.GetTokenRequest) (*gatepassv1.GetTokenResponse, error) {
	p := principal(ctx)
	var t *gatepassv1.Token
	err := s.Store.View(func(tx *store.Tx) error {
		st, err := tx.Token(req.GetTokenId())
		if err != nil {
			return err
		}
		// Admins see their scope; any token may read itself.
		if st.GetToken().GetId() != p.TokenID {
			if err := p.RequireRole(access.RoleAdmin); err != nil {
				return err
			}
			if !p.CanSee(st.GetToken().GetWorkspaceId(), st.GetToken().GetProjectId()) {
				return store.ErrNotFound
			}
		}
		t, err = withUsage(tx, st.GetToken())
		return err
	})
	if err != nil {
		return nil, toStatus(err, "token")
	}
	return &gatepassv1.GetTokenResponse{Token: t}, nil
}

// ListTokens implements IssuerService.
func (s *Issuer) ListTokens(ctx context.Context, req *gatepassv1.ListTokensRequest) (*gatepassv1.ListTokensResponse, error) {
	p := principal(ctx)
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return nil, toStatus(err, "")
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultPageSize
	}
	after, err := decodePageToken(req.GetPageToken())
	if err != nil {
		return nil, errBadPageToken
	}
	resp := &gatepassv1.ListTokensResponse{}
	more := false
	err = s.Store.View(func(tx *store.Tx) error {
		// The narrowest index that answers the request: O(log n + k).
		scan, of := tx.ScanTokens, p.WorkspaceID
		switch {
		case req.GetProjectId() != "":
			scan, of = tx.ScanProjectTokens, req.GetProjectId()
		case req.GetOwnerId() != "":
			scan, of = tx.ScanOwnerTokens, req.GetOwnerId()
		}
		var err error
		scanErr := scan(of, after, func(t *gatepassv1.Token) bool {
			if t.GetWorkspaceId() != p.WorkspaceID || !p.CanSee(t.GetWorkspaceId(), t.GetProjectId()) ||
				(req.GetProjectId() != "" && t.GetProjectId() != req.GetProjectId()) ||
				(req.GetStatus() != 0 && t.GetStatus() != req.GetStatus()) ||
				(req.GetOwnerId() != "" && t.GetOwnerId() != req.GetOwnerId()) {
				return true
			}
			if len(resp.Tokens) == size {
				more = true
				return false
			}
			t, err = withUsage(tx, t)
			resp.Tokens = append(resp.Tokens, t)
			return err == nil
		})
		if err != nil {
			return err
		}
		return scanErr
	})
	if err != nil {
		return nil, toStatus(err, "token")
	}
	if more {
		resp.NextPageToken = encodePageToken(resp.Tokens[len(resp.Tokens)-1].GetId())
	}
	return resp, nil
}

// DisableToken implements IssuerService.
func (s *Issuer) DisableToken(ctx context.Context, req *gatepassv1.DisableTokenRequest) (*gatepassv1.DisableTokenResponse, error) {
	c, err := s.Lifecycle.Change(principal(ctx), req.GetTokenId(), req.GetReason(), access.Disable)
	if err != nil {
		return nil, toStatus(err, "token")
	}
	return &gatepassv1.DisableTokenResponse{Token: c.Token, Receipt: s.propagate(ctx, c.EventID)}, nil
}

// EnableToken implements IssuerService.
func (s *Issuer) EnableToken(ctx context.Context, req *gatepassv1.EnableTokenRequest) (*gatepassv1.EnableTokenResponse, error) {
	c, err := s.Lifecycle.Change(principal(ctx), req.GetTokenId(), req.GetReason(), access.Enable)
	if err != nil {
		return nil, toStatus(err, "token")
	}
	return &gatepassv1.EnableTokenResponse{Token: c.Token, Receipt: s.propagate(ctx, c.EventID)}, nil
}

// RevokeToken implements IssuerService. With cascade, every successor
// created by rotation from the token is revoked in the same transaction.
func (s *Issuer) RevokeToken(ctx context.Context, req *gatepassv1.RevokeTokenRequest) (*gatepassv1.RevokeTokenResponse, error) {
	if !req.GetCascade() {
		c, err := s.Lifecycle.Change(principal(ctx), req.GetTokenId(), req.GetReason(), access.Revoke)
		if err != nil {
			return nil, toStatus(err, "token")
		}
		return &gatepassv1.RevokeTokenResponse{Token: c.Token, Receipt: s.propagate(ctx, c.EventID)}, nil
	}
	c, err := s.Lifecycle.RevokeChain(principal(ctx), req.GetTokenId(), req.GetReason())
	if err != nil {
		return nil, toStatus(err, "token")
	}
	resp := &gatepassv1.RevokeTokenResponse{Token: c.Token, RevokedSuccessorIds: c.Successors}
	if c.EventID != "" {
		resp.Receipt = s.propagate(ctx, c.EventID)
	}
	return resp, nil
}
