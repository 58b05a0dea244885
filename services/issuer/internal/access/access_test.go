package access

import (
	"errors"
	"testing"
)

func TestTransition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		from    Status
		action  Action
		want    Status
		wantErr error
	}{
		{"disable active", StatusActive, Disable, StatusDisabled, nil},
		{"enable disabled", StatusDisabled, Enable, StatusActive, nil},
		{"revoke active", StatusActive, Revoke, StatusRevoked, nil},
		{"revoke disabled", StatusDisabled, Revoke, StatusRevoked, nil},
		{"enable active", StatusActive, Enable, StatusActive, ErrIllegalTransition},
		{"disable disabled", StatusDisabled, Disable, StatusDisabled, ErrIllegalTransition},
		{"enable revoked", StatusRevoked, Enable, StatusRevoked, ErrIllegalTransition},
		{"disable revoked", StatusRevoked, Disable, StatusRevoked, ErrIllegalTransition},
		{"revoke revoked", StatusRevoked, Revoke, StatusRevoked, ErrIllegalTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Transition(tt.from, tt.action)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("Transition = %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCanGrant(t *testing.T) {
	t.Parallel()
	wsAdmin := Principal{WorkspaceID: "ws", Role: RoleAdmin}
	prjOwner := Principal{WorkspaceID: "ws", ProjectID: "p1", Role: RoleOwner}
	tests := []struct {
		name    string
		p       Principal
		project string
		role    Role
		wantErr error
	}{
		{"admin grants admin", wsAdmin, "", RoleAdmin, nil},
		{"admin grants project viewer", wsAdmin, "p1", RoleViewer, nil},
		{"admin cannot grant owner", wsAdmin, "", RoleOwner, ErrForbidden},
		{"maintainer cannot create", Principal{WorkspaceID: "ws", Role: RoleMaintainer}, "p1", RoleViewer, ErrForbidden},
		{"project token in own project", prjOwner, "p1", RoleOwner, nil},
		{"project token in other project", prjOwner, "p2", RoleViewer, ErrForbidden},
		{"project token cannot make workspace token", prjOwner, "", RoleViewer, ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.p.CanGrant(tt.project, tt.role); !errors.Is(err, tt.wantErr) {
				t.Fatalf("CanGrant = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestEffectiveRoleAndScope(t *testing.T) {
	t.Parallel()
	if got := EffectiveRole(RoleOwner, RoleAdmin, true); got != RoleAdmin {
		t.Errorf("token role is not capped by member role: %v", got)
	}
	if got := EffectiveRole(RoleOwner, RoleOwner, false); got != RoleNone {
		t.Errorf("removed member keeps a role: %v", got)
	}
	p := Principal{WorkspaceID: "ws", ProjectID: "p1", Role: RoleAdmin}
	if !p.CanSee("ws", "p1") || p.CanSee("ws", "p2") || p.CanSee("ws", "") || p.CanSee("other", "p1") {
		t.Error("project token scope is wrong")
	}
	if err := p.CanManageMember(RoleViewer, RoleViewer); !errors.Is(err, ErrForbidden) {
		t.Error("project token may manage members")
	}
	w := Principal{WorkspaceID: "ws", Role: RoleAdmin}
	if err := w.CanManageMember(RoleOwner, RoleViewer); !errors.Is(err, ErrForbidden) {
		t.Error("admin may demote an owner")
	}
	if err := w.CanManageMember(RoleViewer, RoleAdmin); err != nil {
		t.Errorf("admin may not promote to admin: %v", err)
	}
}
