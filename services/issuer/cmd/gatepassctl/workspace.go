package main

import (
	"context"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
)

// workspaceCommands read the workspace.
var workspaceCommands = []command{
	{words: []string{"workspace", "get"}, flags: func(*pflag.FlagSet) action {
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
