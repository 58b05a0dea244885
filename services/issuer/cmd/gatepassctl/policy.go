package main

import (
	"context"
	"strconv"

	"github.com/gatepass/gatepass/pkg/config"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"
)

// policyCommands read and set the workspace policy.
var policyCommands = []command{
	{words: []string{"policy", "get"}, flags: func(*pflag.FlagSet) action {
		return func(ctx context.Context, c *cli, _ []string) error {
			resp, err := c.workspace.GetPolicy(ctx, &gatepassv1.GetPolicyRequest{})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.policyTable(resp.GetPolicy()) })
		}
	}},
	{words: []string{"policy", "set"}, flags: bindPolicySet},
}

func bindPolicySet(fs *pflag.FlagSet) action {
	// Each flag sets one policy field, only when given.
	var setters = map[string]func(p *gatepassv1.Policy) error{}
	dur := func(name, usage string, set func(*gatepassv1.Policy, *durationpb.Duration)) {
		v := fs.Duration(name, 0, usage)
		setters[name] = func(p *gatepassv1.Policy) error { set(p, optionalDuration(*v)); return nil }
	}
	boolean := func(name, usage string, set func(*gatepassv1.Policy, bool)) {
		v := fs.Bool(name, false, usage)
		setters[name] = func(p *gatepassv1.Policy) error { set(p, *v); return nil }
	}
	integer := func(name, usage string, set func(*gatepassv1.Policy, int32)) {
		v := fs.Int(name, 0, usage)
		setters[name] = func(p *gatepassv1.Policy) error { set(p, int32(*v)); return nil }
	}
	dur("default-lifetime", "lifetime of tokens created without an expiry", func(p *gatepassv1.Policy, d *durationpb.Duration) { p.DefaultLifetime = d })
	dur("max-lifetime", "longest lifetime allowed", func(p *gatepassv1.Policy, d *durationpb.Duration) { p.MaxLifetime = d })
	boolean("forbid-never-expires", "forbid tokens that never expire", func(p *gatepassv1.Policy, b bool) { p.ForbidNeverExpires = b })
	boolean("require-never-expires-justification", "require a reason for a token that never expires", func(p *gatepassv1.Policy, b bool) { p.RequireNeverExpiresJustification = b })
	boolean("keep-removed-members-tokens", "keep a removed member's tokens working instead of disabling them", func(p *gatepassv1.Policy, b bool) { p.KeepTokensOfRemovedMembers = b })
	boolean("allow-private-webhook-targets", "let webhooks reach private and loopback addresses (and plain http)", func(p *gatepassv1.Policy, b bool) { p.AllowPrivateWebhookTargets = b })
	integer("disable-unused-days", "disable tokens unused for N days (0: off)", func(p *gatepassv1.Policy, n int32) { p.DisableUnusedDays = n })
	integer("revoke-disabled-days", "revoke tokens disabled for N days (0: off)", func(p *gatepassv1.Policy, n int32) { p.RevokeDisabledDays = n })
	integer("expiring-within-days", "review: flag tokens expiring within N days", func(p *gatepassv1.Policy, n int32) { p.Review.ExpiringWithinDays = n })
	integer("unused-days", "review: flag tokens unused for N days", func(p *gatepassv1.Policy, n int32) { p.Review.UnusedDays = n })
	integer("disabled-days", "review: flag tokens disabled for N days", func(p *gatepassv1.Policy, n int32) { p.Review.DisabledDays = n })
	integer("max-sources", "review: flag tokens used from more than N addresses", func(p *gatepassv1.Policy, n int32) { p.Review.MaxSources = n })
	vague := fs.String("vague-names", "", "comma-separated names to treat as vague")
	setters["vague-names"] = func(p *gatepassv1.Policy) error { p.VagueNames = config.List(*vague); return nil }
	vagueAction := fs.String("vague-action", "", "reject or flag")
	setters["vague-action"] = func(p *gatepassv1.Policy) error {
		v, err := parseEnum("VAGUE_NAME_ACTION", *vagueAction, gatepassv1.VagueNameAction_value)
		p.VagueNameAction = gatepassv1.VagueNameAction(v)
		return err
	}
	notices := fs.String("expiry-notice-days", "", "days before expiry to send token.expiring, e.g. 30,7,1")
	setters["expiry-notice-days"] = func(p *gatepassv1.Policy) error {
		p.ExpiryNoticeDays = nil
		for _, d := range config.List(*notices) {
			n, err := strconv.Atoi(d)
			if err != nil {
				return usagef("--expiry-notice-days: %q is not a number of days", d)
			}
			p.ExpiryNoticeDays = append(p.ExpiryNoticeDays, int32(n))
		}
		return nil
	}
	return func(ctx context.Context, c *cli, _ []string) error {
		cur, err := c.workspace.GetPolicy(ctx, &gatepassv1.GetPolicyRequest{})
		if err != nil {
			return err
		}
		p := cur.GetPolicy()
		fs.Visit(func(f *pflag.Flag) {
			if set, ok := setters[f.Name]; ok && err == nil {
				err = set(p)
			}
		})
		if err != nil {
			return err
		}
		resp, err := c.workspace.UpdatePolicy(ctx, &gatepassv1.UpdatePolicyRequest{Policy: p})
		if err != nil {
			return err
		}
		return c.print(resp, func() { c.policyTable(resp.GetPolicy()) })
	}
}
