package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
)

// webhookCommands register, list and remove webhook endpoints and show
// their deliveries.
var webhookCommands = []command{
	{words: []string{"webhook", "add"}, args: 1, flags: func(fs *pflag.FlagSet) action {
		var types multi
		fs.Var(&types, "events", "notice types to send, e.g. token.revoked,token.expiring (repeatable; default all)")
		secretFile := fs.String("secret-file", "", "write the signing secret to this new file (mode 0600) instead of stdout")
		return func(ctx context.Context, c *cli, args []string) error {
			req := &gatepassv1.CreateWebhookRequest{Url: args[0]}
			for _, list := range types {
				for name := range strings.SplitSeq(list, ",") {
					t, err := parseNoticeType(name)
					if err != nil {
						return err
					}
					req.Types = append(req.Types, t)
				}
			}
			resp, err := c.workspace.CreateWebhook(ctx, req)
			if err != nil {
				return err
			}
			if *secretFile != "" {
				if err := writeSecretFile(*secretFile, resp.GetSecret()); err != nil {
					return err
				}
				fmt.Fprintf(c.stderr, "signing secret written to %s; it is not shown again\n", *secretFile)
				return c.print(resp.GetWebhook(), func() { c.webhookTable([]*gatepassv1.Webhook{resp.GetWebhook()}) })
			}
			if c.output == "json" {
				return c.print(resp, nil)
			}
			fmt.Fprintf(c.stderr, "registered %s; the signing secret below is shown only once\n", clean(resp.GetWebhook().GetId()))
			_, err = fmt.Fprintln(c.stdout, resp.GetSecret())
			return err
		}
	}},
	{words: []string{"webhook", "list"}, flags: func(*pflag.FlagSet) action {
		return func(ctx context.Context, c *cli, _ []string) error {
			resp, err := c.workspace.ListWebhooks(ctx, &gatepassv1.ListWebhooksRequest{})
			if err != nil {
				return err
			}
			return c.print(resp, func() { c.webhookTable(resp.GetWebhooks()) })
		}
	}},
	{words: []string{"webhook", "delete"}, args: 1, flags: func(*pflag.FlagSet) action {
		return func(ctx context.Context, c *cli, args []string) error {
			resp, err := c.workspace.DeleteWebhook(ctx, &gatepassv1.DeleteWebhookRequest{WebhookId: args[0]})
			if err != nil {
				return err
			}
			return c.print(resp, func() { fmt.Fprintf(c.stdout, "deleted %s\n", clean(args[0])) })
		}
	}},
	{words: []string{"webhook", "deliveries"}, args: 1, flags: func(fs *pflag.FlagSet) action {
		size := fs.Int("page-size", 0, "deliveries shown, newest first (default 100)")
		return func(ctx context.Context, c *cli, args []string) error {
			resp, err := c.workspace.ListWebhookDeliveries(ctx, &gatepassv1.ListWebhookDeliveriesRequest{WebhookId: args[0], PageSize: int32(*size)})
			if err != nil {
				return err
			}
			return c.print(resp, func() {
				w := c.table("DELIVERY", "TYPE", "STATE", "ATTEMPTS", "LAST STATUS", "LAST ATTEMPT", "NEXT ATTEMPT", "ERROR")
				for _, d := range resp.GetDeliveries() {
					w.row(d.GetId(), d.GetType(), strings.ToLower(strings.TrimPrefix(d.GetState().String(), "DELIVERY_STATE_")),
						strconv.Itoa(int(d.GetAttempts())), httpStatus(d.GetLastStatus()), when(d.GetLastAttemptTime()), when(d.GetNextAttemptTime()), d.GetLastError())
				}
				w.flush()
			})
		}
	}},
}

func (c *cli) webhookTable(ws []*gatepassv1.Webhook) {
	w := c.table("ID", "URL", "EVENTS", "LAST STATUS", "LAST ATTEMPT", "PENDING")
	for _, h := range ws {
		var names []string
		for _, t := range h.GetTypes() {
			names = append(names, noticeName(t))
		}
		events := strings.Join(names, ",")
		if events == "" {
			events = "all"
		}
		w.row(h.GetId(), h.GetUrl(), events, httpStatus(h.GetLastStatus()), when(h.GetLastAttemptTime()), strconv.Itoa(int(h.GetPending())))
	}
	w.flush()
}

func httpStatus(code int32) string {
	if code == 0 {
		return ""
	}
	return strconv.Itoa(int(code))
}

// noticeNames are the notice types by their wire names.
var noticeNames = map[string]gatepassv1.NoticeType{
	"token.expiring": gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_EXPIRING,
	"token.expired":  gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_EXPIRED,
	"token.disabled": gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_DISABLED,
	"token.revoked":  gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_REVOKED,
	"token.leaked":   gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_LEAKED,
	"token.attempt":  gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_ATTEMPT,
	"member.removed": gatepassv1.NoticeType_NOTICE_TYPE_MEMBER_REMOVED,
	"review.digest":  gatepassv1.NoticeType_NOTICE_TYPE_REVIEW_DIGEST,
}

func parseNoticeType(s string) (gatepassv1.NoticeType, error) {
	if t, ok := noticeNames[strings.TrimSpace(s)]; ok {
		return t, nil
	}
	return 0, usagef("unknown notice type %q (one of token.expiring, token.expired, token.disabled, token.revoked, token.leaked, token.attempt, member.removed, review.digest)", s)
}

func noticeName(t gatepassv1.NoticeType) string {
	for name, v := range noticeNames {
		if v == t {
			return name
		}
	}
	return "unknown"
}
