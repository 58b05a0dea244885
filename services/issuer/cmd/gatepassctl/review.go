package main

import (
	"context"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// reviewCommands review tokens and read the audit trail.
var reviewCommands = []command{
	{words: []string{"review"}, flags: func(fs *pflag.FlagSet) action {
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
	{words: []string{"audit"}, flags: func(fs *pflag.FlagSet) action {
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
}
