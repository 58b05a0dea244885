package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gatepass/gatepass/pkg/config"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type action = func(ctx context.Context, c *cli, args []string) error

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// expiry binds the three ways to say when a token expires.
type expiry struct {
	in    time.Duration
	at    string
	never bool
}

func (e *expiry) bind(fs *flag.FlagSet, withNever bool) {
	fs.DurationVar(&e.in, "expires-in", 0, "lifetime, e.g. 720h")
	fs.StringVar(&e.at, "expire-time", "", "expiry as RFC 3339, e.g. 2027-01-31T00:00:00Z")
	if withNever {
		fs.BoolVar(&e.never, "never-expires", false, "the explicit choice of a token that never expires")
	}
}

func (e *expiry) timestamp() (*timestamppb.Timestamp, error) {
	switch {
	case e.in != 0 && e.at != "":
		return nil, usagef("-expires-in and -expire-time exclude each other")
	case e.in != 0:
		return timestamppb.New(time.Now().Add(e.in)), nil
	case e.at != "":
		t, err := time.Parse(time.RFC3339, e.at)
		if err != nil {
			return nil, usagef("-expire-time: %v", err)
		}
		return timestamppb.New(t), nil
	}
	return nil, nil
}

func parseEnum(kind, s string, values map[string]int32) (int32, error) {
	if s == "" {
		return 0, nil
	}
	key := strings.ToUpper(kind + "_" + strings.TrimPrefix(strings.ToUpper(s), kind+"_"))
	v, ok := values[key]
	if !ok || v == 0 {
		return 0, usagef("unknown %s %q", strings.ToLower(kind), s)
	}
	return v, nil
}

func parseRole(s string) (gatepassv1.Role, error) {
	v, err := parseEnum("ROLE", s, gatepassv1.Role_value)
	return gatepassv1.Role(v), err
}

var commands = []command{
	{words: []string{"token", "create"}, flags: func(fs *flag.FlagSet) action {
		name := fs.String("name", "", "name showing owner and purpose, e.g. ci-regression-runner")
		desc := fs.String("description", "", "description")
		project := fs.String("project", "", "project id (empty: a workspace token)")
		role := fs.String("role", "", "viewer, tester, maintainer, admin or owner")
		owner := fs.String("owner", "", "owner member id (default: yours)")
		var exp expiry
		exp.bind(fs, true)
		var cidrs multi
		fs.Var(&cidrs, "cidr", "client network allowed to use the token (repeatable)")
		self := fs.Bool("self-rotate", false, "let the token rotate itself")
		secretFile := fs.String("secret-file", "", "write the secret to this new file (mode 0600) instead of stdout")
		return func(ctx context.Context, c *cli, _ []string) error {
			r, err := parseRole(*role)
			if err != nil {
				return err
			}
			at, err := exp.timestamp()
			if err != nil {
				return err
			}
			resp, err := c.issuer.CreateToken(ctx, &gatepassv1.CreateTokenRequest{
				Name: *name, Description: *desc, ProjectId: *project, Role: r, OwnerId: *owner,
				ExpireTime: at, NeverExpires: exp.never, AllowedCidrs: cidrs, SelfRotate: *self,
			})
			if err != nil {
				return err
			}
			return c.secret(resp, resp.GetSecret(), resp.GetToken(), resp.GetReceipt(), *secretFile)
		}
	}},
	{words: []string{"token", "list"}, flags: func(fs *flag.FlagSet) action {
		project := fs.String("project", "", "only this project's tokens")
		st := fs.String("status", "", "only active, disabled or revoked tokens")
		owner := fs.String("owner", "", "only this member's tokens")
		size := fs.Int("page-size", 0, "tokens per page (default 100)")
		page := fs.String("page-token", "", "page to start from")
		all := fs.Bool("all", false, "follow every page")
		return func(ctx context.Context, c *cli, _ []string) error {
			s, err := parseEnum("TOKEN_STATUS", *st, gatepassv1.TokenStatus_value)
			if err != nil {
				return err
			}
			req := &gatepassv1.ListTokensRequest{ProjectId: *project, Status: gatepassv1.TokenStatus(s), OwnerId: *owner, PageSize: int32(*size), PageToken: *page}
			out := &gatepassv1.ListTokensResponse{}
			for {
				resp, err := c.issuer.ListTokens(ctx, req)
				if err != nil {
					return err
				}
				out.Tokens = append(out.Tokens, resp.GetTokens()...)
				out.NextPageToken = resp.GetNextPageToken()
				if !*all || out.NextPageToken == "" {
					break
				}
				req.PageToken = out.NextPageToken
			}
			return c.print(out, func() { c.tokenTable(out.GetTokens()); c.nextPage(out.GetNextPageToken()) })
		}
	}},
	{words: []string{"token", "get"}, args: 1, flags: func(*flag.FlagSet) action {
		return func(ctx context.Context, c *cli, args []string) error {
			resp, err := c.issuer.GetToken(ctx, &gatepassv1.GetTokenRequest{TokenId: args[0]})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.tokenDetail(resp.GetToken()) })
		}
	}},
	{words: []string{"token", "update"}, args: 1, flags: func(fs *flag.FlagSet) action {
		name := fs.String("name", "", "new name")
		desc := fs.String("description", "", "new description")
		owner := fs.String("owner", "", "member to transfer the token to")
		return func(ctx context.Context, c *cli, args []string) error {
			req := &gatepassv1.UpdateTokenRequest{TokenId: args[0], UpdateMask: &fieldmaskpb.FieldMask{}}
			fs.Visit(func(f *flag.Flag) {
				switch f.Name {
				case "name":
					req.Name = *name
					req.UpdateMask.Paths = append(req.UpdateMask.Paths, "name")
				case "description":
					req.Description = *desc
					req.UpdateMask.Paths = append(req.UpdateMask.Paths, "description")
				case "owner":
					req.OwnerId = *owner
					req.UpdateMask.Paths = append(req.UpdateMask.Paths, "owner_id")
				}
			})
			if len(req.UpdateMask.Paths) == 0 {
				return usagef("give at least one of -name, -description, -owner")
			}
			resp, err := c.issuer.UpdateToken(ctx, req)
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.tokenDetail(resp.GetToken()) })
		}
	}},
	lifecycle("disable"), lifecycle("enable"), lifecycle("revoke"), chain(),
	{words: []string{"token", "rotate"}, args: 1, flags: func(fs *flag.FlagSet) action {
		var exp expiry
		exp.bind(fs, false)
		disableAfter := fs.Duration("disable-old-after", -1, "disable the old token this long after rotation, e.g. 24h")
		revokeAfter := fs.Duration("revoke-old-after", -1, "revoke the old token this long after rotation, e.g. 168h")
		name := fs.String("name", "", "name of the replacement (default: the old name)")
		reason := fs.String("reason", "", "why, for the audit trail")
		secretFile := fs.String("secret-file", "", "write the secret to this new file (mode 0600) instead of stdout")
		return func(ctx context.Context, c *cli, args []string) error {
			at, err := exp.timestamp()
			if err != nil {
				return err
			}
			req := &gatepassv1.RotateTokenRequest{TokenId: args[0], ExpireTime: at, Name: *name, Reason: *reason}
			if *disableAfter >= 0 {
				req.DisableOldAfter = durationpb.New(*disableAfter)
			}
			if *revokeAfter >= 0 {
				req.RevokeOldAfter = durationpb.New(*revokeAfter)
			}
			resp, err := c.issuer.RotateToken(ctx, req)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "old token %s is replaced by %s\n", resp.GetOldToken().GetId(), resp.GetToken().GetId())
			return c.secret(resp, resp.GetSecret(), resp.GetToken(), resp.GetReceipt(), *secretFile)
		}
	}},
	{words: []string{"review"}, flags: func(fs *flag.FlagSet) action {
		project := fs.String("project", "", "only this project's tokens")
		sev := fs.String("min-severity", "", "low, medium or high")
		return func(ctx context.Context, c *cli, _ []string) error {
			s, err := parseEnum("SEVERITY", *sev, gatepassv1.Severity_value)
			if err != nil {
				return err
			}
			resp, err := c.issuer.ReviewTokens(ctx, &gatepassv1.ReviewTokensRequest{ProjectId: *project, MinSeverity: gatepassv1.Severity(s)})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.findingTable(resp.GetFindings()) })
		}
	}},
	{words: []string{"audit"}, flags: func(fs *flag.FlagSet) action {
		target := fs.String("target", "", "only events about this token, project or member")
		actor := fs.String("actor", "", "only events made with this token id")
		act := fs.String("action", "", `only this action, e.g. token.revoke or "token.*"`)
		since := fs.Duration("since", 0, "only events this recent, e.g. 24h")
		size := fs.Int("page-size", 0, "events per page (default 100)")
		page := fs.String("page-token", "", "page to start from")
		all := fs.Bool("all", false, "follow every page")
		return func(ctx context.Context, c *cli, _ []string) error {
			req := &gatepassv1.ListAuditEventsRequest{TargetId: *target, ActorTokenId: *actor, Action: *act, PageSize: int32(*size), PageToken: *page}
			if *since > 0 {
				req.StartTime = timestamppb.New(time.Now().Add(-*since))
			}
			out := &gatepassv1.ListAuditEventsResponse{}
			for {
				resp, err := c.issuer.ListAuditEvents(ctx, req)
				if err != nil {
					return err
				}
				out.Events = append(out.Events, resp.GetEvents()...)
				out.NextPageToken = resp.GetNextPageToken()
				if !*all || out.NextPageToken == "" {
					break
				}
				req.PageToken = out.NextPageToken
			}
			return c.print(out, func() { c.auditTable(out.GetEvents()); c.nextPage(out.GetNextPageToken()) })
		}
	}},
	{words: []string{"project", "create"}, args: 1, flags: func(*flag.FlagSet) action {
		return func(ctx context.Context, c *cli, args []string) error {
			resp, err := c.workspace.CreateProject(ctx, &gatepassv1.CreateProjectRequest{Name: args[0]})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.projectTable([]*gatepassv1.Project{resp.GetProject()}) })
		}
	}},
	{words: []string{"project", "list"}, flags: func(*flag.FlagSet) action {
		return func(ctx context.Context, c *cli, _ []string) error {
			resp, err := c.workspace.ListProjects(ctx, &gatepassv1.ListProjectsRequest{})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.projectTable(resp.GetProjects()) })
		}
	}},
	{words: []string{"member", "add"}, flags: func(fs *flag.FlagSet) action {
		name := fs.String("name", "", "display name")
		email := fs.String("email", "", "email address")
		role := fs.String("role", "", "viewer, tester, maintainer, admin or owner")
		return func(ctx context.Context, c *cli, _ []string) error {
			r, err := parseRole(*role)
			if err != nil {
				return err
			}
			resp, err := c.workspace.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: *name, Email: *email, Role: r})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.memberTable([]*gatepassv1.Member{resp.GetMember()}) })
		}
	}},
	{words: []string{"member", "list"}, flags: func(*flag.FlagSet) action {
		return func(ctx context.Context, c *cli, _ []string) error {
			resp, err := c.workspace.ListMembers(ctx, &gatepassv1.ListMembersRequest{})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.memberTable(resp.GetMembers()) })
		}
	}},
	{words: []string{"member", "update"}, args: 1, flags: func(fs *flag.FlagSet) action {
		role := fs.String("role", "", "new role")
		return func(ctx context.Context, c *cli, args []string) error {
			r, err := parseRole(*role)
			if err != nil {
				return err
			}
			resp, err := c.workspace.UpdateMemberRole(ctx, &gatepassv1.UpdateMemberRoleRequest{MemberId: args[0], Role: r})
			if err != nil {
				return err
			}
			return c.print(resp, func() {
				c.memberTable([]*gatepassv1.Member{resp.GetMember()})
				if resp.GetTokensCapped() > 0 {
					fmt.Fprintf(c.stdout, "%d of the member's tokens capped at the new role\n", resp.GetTokensCapped())
					c.receipt(resp.GetReceipt())
				}
			})
		}
	}},
	{words: []string{"member", "remove"}, args: 1, flags: func(*flag.FlagSet) action {
		return func(ctx context.Context, c *cli, args []string) error {
			resp, err := c.workspace.RemoveMember(ctx, &gatepassv1.RemoveMemberRequest{MemberId: args[0]})
			if err != nil {
				return err
			}
			return c.print(resp, func() {
				c.memberTable([]*gatepassv1.Member{resp.GetMember()})
				if resp.GetTokensDisabled() > 0 {
					fmt.Fprintf(c.stdout, "%d of the member's tokens disabled\n", resp.GetTokensDisabled())
					c.receipt(resp.GetReceipt())
				}
			})
		}
	}},
	{words: []string{"policy", "get"}, flags: func(*flag.FlagSet) action {
		return func(ctx context.Context, c *cli, _ []string) error {
			resp, err := c.workspace.GetPolicy(ctx, &gatepassv1.GetPolicyRequest{})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.policyTable(resp.GetPolicy()) })
		}
	}},
	{words: []string{"policy", "set"}, flags: bindPolicySet},
	{words: []string{"workspace", "get"}, flags: func(*flag.FlagSet) action {
		return func(ctx context.Context, c *cli, _ []string) error {
			resp, err := c.workspace.GetWorkspace(ctx, &gatepassv1.GetWorkspaceRequest{})
			if err != nil {
				return err
			}
			return c.print(resp, func() {
				w := c.table("ID", "NAME", "CREATED")
				w.row(resp.GetWorkspace().GetId(), resp.GetWorkspace().GetName(), when(resp.GetWorkspace().GetCreateTime()))
				w.flush()
			})
		}
	}},
}

// lifecycle builds token disable, enable and revoke.
func lifecycle(verb string) command {
	return &spec{words: []string{"token", verb}, args: 1, flags: func(fs *flag.FlagSet) action {
		reason := fs.String("reason", "", "why, for the audit trail")
		cascade := false
		if verb == "revoke" {
			fs.BoolVar(&cascade, "cascade", false, "also revoke every successor created by rotation from the token")
		}
		return func(ctx context.Context, c *cli, args []string) error {
			var t *gatepassv1.Token
			var r *gatepassv1.PropagationReceipt
			switch verb {
			case "disable":
				out, err := c.issuer.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: args[0], Reason: *reason})
				if err != nil {
					return err
				}
				t, r = out.GetToken(), out.GetReceipt()
				return unconfirmed(r, c.print(out, func() { c.changed(t, r) }))
			case "enable":
				out, err := c.issuer.EnableToken(ctx, &gatepassv1.EnableTokenRequest{TokenId: args[0], Reason: *reason})
				if err != nil {
					return err
				}
				t, r = out.GetToken(), out.GetReceipt()
				return c.print(out, func() { c.changed(t, r) })
			}
			out, err := c.issuer.RevokeToken(ctx, &gatepassv1.RevokeTokenRequest{TokenId: args[0], Reason: *reason, Cascade: cascade})
			if err != nil {
				return err
			}
			t, r = out.GetToken(), out.GetReceipt()
			return unconfirmed(r, c.print(out, func() {
				c.changed(t, r)
				for _, id := range out.GetRevokedSuccessorIds() {
					fmt.Fprintf(c.stdout, "successor %s revoked too\n", clean(id))
				}
			}))
		}
	}}
}

// chain prints a token's rotation chain, oldest first, by following
// replaces and replaced_by links.
func chain() command {
	return &spec{words: []string{"token", "chain"}, args: 1, flags: func(*flag.FlagSet) action {
		return func(ctx context.Context, c *cli, args []string) error {
			get := func(id string) (*gatepassv1.Token, error) {
				out, err := c.issuer.GetToken(ctx, &gatepassv1.GetTokenRequest{TokenId: id})
				return out.GetToken(), err
			}
			t, err := get(args[0])
			if err != nil {
				return err
			}
			const limit = 1000 // a chain is short; this bounds a cycle
			seen := map[string]bool{t.GetId(): true}
			tokens := []*gatepassv1.Token{t}
			for id := t.GetReplacesTokenId(); id != "" && !seen[id] && len(tokens) < limit; {
				prev, err := get(id)
				if err != nil {
					return err
				}
				seen[id] = true
				tokens = append([]*gatepassv1.Token{prev}, tokens...)
				id = prev.GetReplacesTokenId()
			}
			for id := t.GetReplacedByTokenId(); id != "" && !seen[id] && len(tokens) < limit; {
				next, err := get(id)
				if err != nil {
					return err
				}
				seen[id] = true
				tokens = append(tokens, next)
				id = next.GetReplacedByTokenId()
			}
			return c.print(&gatepassv1.ListTokensResponse{Tokens: tokens}, func() { c.tokenTable(tokens) })
		}
	}}
}

// errUnconfirmed is returned when a change's receipt is incomplete: the
// change is committed, but not every validator confirmed it in time.
var errUnconfirmed = errors.New("not every validator confirmed the change in time")

func unconfirmed(r *gatepassv1.PropagationReceipt, err error) error {
	if err == nil && r != nil && !r.GetComplete() {
		return errUnconfirmed
	}
	return err
}

func bindPolicySet(fs *flag.FlagSet) action {
	defLife := fs.Duration("default-lifetime", 0, "lifetime of tokens created without an expiry")
	maxLife := fs.Duration("max-lifetime", 0, "longest lifetime allowed")
	forbidNever := fs.Bool("forbid-never-expires", false, "forbid tokens that never expire")
	vague := fs.String("vague-names", "", "comma-separated names to treat as vague")
	vagueAction := fs.String("vague-action", "", "reject or flag")
	keepRemoved := fs.Bool("keep-removed-members-tokens", false, "keep a removed member's tokens working instead of disabling them")
	expiring := fs.Int("expiring-within-days", 0, "review: flag tokens expiring within N days")
	unused := fs.Int("unused-days", 0, "review: flag tokens unused for N days")
	disabled := fs.Int("disabled-days", 0, "review: flag tokens disabled for N days")
	sources := fs.Int("max-sources", 0, "review: flag tokens used from more than N addresses")
	return func(ctx context.Context, c *cli, _ []string) error {
		cur, err := c.workspace.GetPolicy(ctx, &gatepassv1.GetPolicyRequest{})
		if err != nil {
			return err
		}
		p := cur.GetPolicy()
		var bad error
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "default-lifetime":
				p.DefaultLifetime = optionalDuration(*defLife)
			case "max-lifetime":
				p.MaxLifetime = optionalDuration(*maxLife)
			case "forbid-never-expires":
				p.ForbidNeverExpires = *forbidNever
			case "vague-names":
				p.VagueNames = config.List(*vague)
			case "vague-action":
				v, err := parseEnum("VAGUE_NAME_ACTION", *vagueAction, gatepassv1.VagueNameAction_value)
				bad = err
				p.VagueNameAction = gatepassv1.VagueNameAction(v)
			case "keep-removed-members-tokens":
				p.KeepTokensOfRemovedMembers = *keepRemoved
			case "expiring-within-days":
				p.Review.ExpiringWithinDays = int32(*expiring)
			case "unused-days":
				p.Review.UnusedDays = int32(*unused)
			case "disabled-days":
				p.Review.DisabledDays = int32(*disabled)
			case "max-sources":
				p.Review.MaxSources = int32(*sources)
			}
		})
		if bad != nil {
			return bad
		}
		resp, err := c.workspace.UpdatePolicy(ctx, &gatepassv1.UpdatePolicyRequest{Policy: p})
		if err != nil {
			return err
		}
		return c.print(resp, func() { c.policyTable(resp.GetPolicy()) })
	}
}

func optionalDuration(d time.Duration) *durationpb.Duration {
	if d <= 0 {
		return nil
	}
	return durationpb.New(d)
}

// writeSecretFile creates path with mode 0600 and writes the secret; it
// refuses to overwrite an existing file.
func writeSecretFile(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("secret file: %w", err)
	}
	return f.Close()
}
