package main

import (
	"context"

	"github.com/gatepass/gatepass/pkg/config"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
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
		fs.Visit(func(f *pflag.Flag) {
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
