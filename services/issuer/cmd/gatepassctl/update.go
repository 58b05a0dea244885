package main

import (
	"context"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// bindUpdate is token update: rename, describe, transfer, and narrow in
// place (role, project, networks, expiry), never widen.
func bindUpdate(fs *pflag.FlagSet) action {
	name := fs.String("name", "", "new name")
	desc := fs.String("description", "", "new description")
	owner := fs.String("owner", "", "member to transfer the token to")
	role := fs.String("role", "", "a lower role")
	project := fs.String("project", "", "move a workspace token into this project")
	var cidrs multi
	fs.Var(&cidrs, "cidr", "networks, each inside one the token allows (repeatable)")
	var exp expiry
	exp.bind(fs, false)
	return func(ctx context.Context, c *cli, args []string) error {
		req := &gatepassv1.UpdateTokenRequest{TokenId: args[0], UpdateMask: &fieldmaskpb.FieldMask{}}
		var err error
		fs.Visit(func(f *pflag.Flag) {
			path := ""
			switch f.Name {
			case "name":
				req.Name, path = *name, "name"
			case "description":
				req.Description, path = *desc, "description"
			case "owner":
				req.OwnerId, path = *owner, "owner_id"
			case "role":
				var r gatepassv1.Role
				r, err = parseRole(*role)
				req.Role, path = r, "role"
			case "project":
				req.ProjectId, path = *project, "project_id"
			case "cidr":
				req.AllowedCidrs, path = cidrs, "allowed_cidrs"
			case "expires-in", "expire-time":
				req.ExpireTime, err = exp.timestamp()
				path = "expire_time"
			}
			if path != "" && (len(req.UpdateMask.Paths) == 0 || req.UpdateMask.Paths[len(req.UpdateMask.Paths)-1] != path) {
				req.UpdateMask.Paths = append(req.UpdateMask.Paths, path)
			}
		})
		if err != nil {
			return err
		}
		if len(req.UpdateMask.Paths) == 0 {
			return usagef("give at least one of --name, --description, --owner, --role, --project, --cidr, --expires-in, --expire-time")
		}
		resp, err := c.issuer.UpdateToken(ctx, req)
		if err != nil {
			return err
		}
		err = c.print(resp, func() {
			c.tokenDetail(resp.GetToken())
			if resp.GetReceipt() != nil {
				c.receipt(resp.GetReceipt())
			}
		})
		if resp.GetReceipt() != nil {
			// A narrowing not yet applied everywhere: exit 5, as a revoke.
			return unconfirmed(resp.GetReceipt(), err)
		}
		return err
	}
}
