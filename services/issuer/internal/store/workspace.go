package store

import (
	"errors"
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"google.golang.org/protobuf/proto"
)

// Workspace returns a workspace.
func (tx *Tx) Workspace(id string) (*gatepassv1.Workspace, error) {
	return get(tx, bucketWorkspaces, id, &gatepassv1.Workspace{})
}

// WorkspaceIDs lists every workspace's id.
func (tx *Tx) WorkspaceIDs() []string {
	var out []string
	_ = tx.btx.Bucket(bucketWorkspaces).ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

// PutWorkspace writes a workspace.
func (tx *Tx) PutWorkspace(w *gatepassv1.Workspace) error {
	return put(tx, bucketWorkspaces, w.GetId(), w)
}

// Project returns a project.
func (tx *Tx) Project(id string) (*gatepassv1.Project, error) {
	return get(tx, bucketProjects, id, &gatepassv1.Project{})
}

// PutProject writes a project and queues its event.
func (tx *Tx) PutProject(p *gatepassv1.Project) (eventID string, err error) {
	if err := put(tx, bucketProjects, p.GetId(), p); err != nil {
		return "", err
	}
	return tx.enqueue(propagation.LaneChange, &gatepassv1.Event{Body: &gatepassv1.Event_Project{Project: &gatepassv1.ProjectState{Project: p}}})
}

// Projects lists a workspace's projects.
func (tx *Tx) Projects(workspaceID string) ([]*gatepassv1.Project, error) {
	var out []*gatepassv1.Project
	err := tx.btx.Bucket(bucketProjects).ForEach(func(_, v []byte) error {
		p := &gatepassv1.Project{}
		if err := proto.Unmarshal(v, p); err != nil {
			return fmt.Errorf("decode project: %w", err)
		}
		if p.GetWorkspaceId() == workspaceID {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// Member returns a member.
func (tx *Tx) Member(id string) (*gatepassv1.Member, error) {
	return get(tx, bucketMembers, id, &gatepassv1.Member{})
}

// PutMember writes a member.
func (tx *Tx) PutMember(m *gatepassv1.Member) error {
	return put(tx, bucketMembers, m.GetId(), m)
}

// Members lists a workspace's members.
func (tx *Tx) Members(workspaceID string) ([]*gatepassv1.Member, error) {
	var out []*gatepassv1.Member
	err := tx.btx.Bucket(bucketMembers).ForEach(func(_, v []byte) error {
		m := &gatepassv1.Member{}
		if err := proto.Unmarshal(v, m); err != nil {
			return fmt.Errorf("decode member: %w", err)
		}
		if m.GetWorkspaceId() == workspaceID {
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// Policy returns a workspace's stored policy (nil when never set).
func (tx *Tx) Policy(workspaceID string) (*gatepassv1.Policy, error) {
	p, err := get(tx, bucketPolicies, workspaceID, &gatepassv1.Policy{})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return p, err
}

// PutPolicy stores a workspace's policy.
func (tx *Tx) PutPolicy(workspaceID string, p *gatepassv1.Policy) error {
	return put(tx, bucketPolicies, workspaceID, p)
}

// Usage returns the usage statistics of a token (empty when none).
func (tx *Tx) Usage(tokenID string) (*gatepassv1.TokenUsage, error) {
	u, err := get(tx, bucketUsage, tokenID, &gatepassv1.TokenUsage{})
	if errors.Is(err, ErrNotFound) {
		return &gatepassv1.TokenUsage{TokenId: tokenID}, nil
	}
	return u, err
}
