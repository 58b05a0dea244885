package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"
)

// tokenCommands create, list, read, change and rotate tokens.
var tokenCommands = []command{
	{words: []string{"token", "create"}, flags: func(fs *pflag.FlagSet) action {
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
		why := fs.String("justification", "", "why the token never expires (the policy may require it)")
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
				NeverExpiresJustification: *why,
			})
			if err != nil {
				return err
			}
			return c.secret(resp, resp.GetSecret(), resp.GetToken(), resp.GetReceipt(), *secretFile)
		}
	}},
	{words: []string{"token", "list"}, flags: func(fs *pflag.FlagSet) action {
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
	{words: []string{"token", "get"}, args: 1, flags: func(*pflag.FlagSet) action {
		return func(ctx context.Context, c *cli, args []string) error {
			resp, err := c.issuer.GetToken(ctx, &gatepassv1.GetTokenRequest{TokenId: args[0]})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.tokenDetail(resp.GetToken()) })
		}
	}},
	{words: []string{"token", "update"}, args: 1, flags: bindUpdate},
	lifecycle("disable"), lifecycle("enable"), lifecycle("revoke"), chain(), batch("disable"), batch("revoke"),
	{words: []string{"token", "rotate"}, args: 1, flags: func(fs *pflag.FlagSet) action {
		var exp expiry
		exp.bind(fs, false)
		disableAfter := fs.Duration("disable-old-after", -1, "disable the old token this long after rotation, e.g. 24h")
		revokeAfter := fs.Duration("revoke-old-after", -1, "revoke the old token this long after rotation, e.g. 168h")
		name := fs.String("name", "", "name of the replacement (default: the old name)")
		narrowRole := fs.String("role", "", "a lower role for the replacement")
		narrowProject := fs.String("project", "", "a project for the replacement of a workspace token")
		var narrowCIDRs multi
		fs.Var(&narrowCIDRs, "cidr", "networks for the replacement, inside the old token's (repeatable)")
		reason := fs.String("reason", "", "why, for the audit trail")
		secretFile := fs.String("secret-file", "", "write the secret to this new file (mode 0600) instead of stdout")
		return func(ctx context.Context, c *cli, args []string) error {
			at, err := exp.timestamp()
			if err != nil {
				return err
			}
			r, err := parseRole(*narrowRole)
			if err != nil {
				return err
			}
			req := &gatepassv1.RotateTokenRequest{TokenId: args[0], ExpireTime: at, Name: *name, Reason: *reason,
				Role: r, ProjectId: *narrowProject, AllowedCidrs: narrowCIDRs}
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
}

// lifecycle builds token disable, enable and revoke.
func lifecycle(verb string) command {
	return &spec{words: []string{"token", verb}, args: 1, flags: func(fs *pflag.FlagSet) action {
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
	return &spec{words: []string{"token", "chain"}, args: 1, flags: func(*pflag.FlagSet) action {
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
