package main

import (
	"context"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
)

// projectCommands create and list projects.
var projectCommands = []command{
	{words: []string{"project", "create"}, args: 1, flags: func(*pflag.FlagSet) action {
		return func(ctx context.Context, c *cli, args []string) error {
			resp, err := c.workspace.CreateProject(ctx, &gatepassv1.CreateProjectRequest{Name: args[0]})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.projectTable([]*gatepassv1.Project{resp.GetProject()}) })
		}
	}},
	{words: []string{"project", "list"}, flags: func(*pflag.FlagSet) action {
		return func(ctx context.Context, c *cli, _ []string) error {
			resp, err := c.workspace.ListProjects(ctx, &gatepassv1.ListProjectsRequest{})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.projectTable(resp.GetProjects()) })
		}
	}},
}
