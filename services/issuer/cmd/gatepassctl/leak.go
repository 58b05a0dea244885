package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
)

// leakCommands report exposed secrets.
var leakCommands = []command{
	{words: []string{"leak", "report"}, flags: func(fs *pflag.FlagSet) action {
		source := fs.String("source", "", "where the secrets were found (URL)")
		return func(ctx context.Context, c *cli, _ []string) error {
			// Secrets come from stdin, one a line: never from argv, which
			// other users of the machine can read.
			var secrets []string
			sc := bufio.NewScanner(c.stdin)
			for sc.Scan() {
				if s := strings.TrimSpace(sc.Text()); s != "" {
					secrets = append(secrets, s)
				}
			}
			if err := sc.Err(); err != nil {
				return err
			}
			if len(secrets) == 0 {
				return usagef("no secrets on stdin (one a line)")
			}
			resp, err := c.issuer.ReportLeakedTokens(ctx, &gatepassv1.ReportLeakedTokensRequest{Secrets: secrets, SourceUrl: *source})
			if err != nil {
				return err
			}
			err = c.print(resp, func() {
				w := c.table("LINE", "FOUND", "TOKEN", "ACTION")
				for _, r := range resp.GetResults() {
					w.row(fmt.Sprint(r.GetIndex()+1), fmt.Sprint(r.GetFound()), r.GetTokenId(),
						strings.ToLower(strings.TrimPrefix(r.GetAction().String(), "LEAK_ACTION_")))
				}
				w.flush()
				if resp.GetReceipt() != nil {
					c.receipt(resp.GetReceipt())
				}
			})
			if resp.GetReceipt() == nil {
				return err
			}
			return unconfirmed(resp.GetReceipt(), err)
		}
	}},
}
