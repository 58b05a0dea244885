package main

import (
	"context"
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
)

// memberCommands add, list, re-role and remove members.
var memberCommands = []command{
	{words: []string{"member", "add"}, flags: func(fs *pflag.FlagSet) action {
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
	{words: []string{"member", "list"}, flags: func(*pflag.FlagSet) action {
		return func(ctx context.Context, c *cli, _ []string) error {
			resp, err := c.workspace.ListMembers(ctx, &gatepassv1.ListMembersRequest{})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.memberTable(resp.GetMembers()) })
		}
	}},
	{words: []string{"member", "update"}, args: 1, flags: func(fs *pflag.FlagSet) action {
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
	{words: []string{"member", "remove"}, args: 1, flags: func(*pflag.FlagSet) action {
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
}
