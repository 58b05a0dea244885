package main

import (
	"context"
	"fmt"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// batch builds token batch-disable and batch-revoke: ids, or a filter.
func batch(verb string) command {
	return &spec{words: []string{"token", "batch-" + verb}, args: -1, flags: func(fs *pflag.FlagSet) action {
		owner := fs.String("owner", "", "tokens of this member")
		project := fs.String("project", "", "tokens of this project")
		st := fs.String("status", "", "tokens in this status (active, disabled)")
		prefix := fs.String("name-prefix", "", "tokens whose names start with this")
		before := fs.String("created-before", "", "tokens created before this time (RFC 3339)")
		reason := fs.String("reason", "", "why, for the audit trail")
		dry := fs.Bool("validate-only", false, "list what would change, change nothing")
		return func(ctx context.Context, c *cli, ids []string) error {
			var filter *gatepassv1.TokenFilter
			if *owner != "" || *project != "" || *st != "" || *prefix != "" || *before != "" {
				s, err := parseEnum("TOKEN_STATUS", *st, gatepassv1.TokenStatus_value)
				if err != nil {
					return err
				}
				filter = &gatepassv1.TokenFilter{OwnerId: *owner, ProjectId: *project, Status: gatepassv1.TokenStatus(s), NamePrefix: *prefix}
				if *before != "" {
					at, err := time.Parse(time.RFC3339, *before)
					if err != nil {
						return usagef("--created-before: %v", err)
					}
					filter.CreatedBefore = timestamppb.New(at)
				}
			}
			if (len(ids) > 0) == (filter != nil) {
				return usagef("name token ids or filter flags, not both and not neither")
			}
			var tokens []*gatepassv1.Token
			var receipt *gatepassv1.PropagationReceipt
			var resp proto.Message
			if verb == "disable" {
				r, err := c.issuer.BatchDisableTokens(ctx, &gatepassv1.BatchDisableTokensRequest{TokenIds: ids, Filter: filter, Reason: *reason, ValidateOnly: *dry})
				if err != nil {
					return err
				}
				tokens, receipt, resp = r.GetTokens(), r.GetReceipt(), r
			} else {
				r, err := c.issuer.BatchRevokeTokens(ctx, &gatepassv1.BatchRevokeTokensRequest{TokenIds: ids, Filter: filter, Reason: *reason, ValidateOnly: *dry})
				if err != nil {
					return err
				}
				tokens, receipt, resp = r.GetTokens(), r.GetReceipt(), r
			}
			err := c.print(resp, func() {
				if *dry {
					fmt.Fprintf(c.stdout, "would %s %d token(s):\n", verb, len(tokens))
				}
				c.tokenTable(tokens)
				if receipt != nil {
					c.receipt(receipt)
				}
			})
			if receipt == nil {
				return err
			}
			return unconfirmed(receipt, err)
		}
	}}
}
