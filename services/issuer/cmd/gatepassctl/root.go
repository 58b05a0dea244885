package main

import (
	"strings"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// groups are the command groups, each with its table of commands.
var groups = []struct {
	name, short string
	commands    []command
}{
	{"token", "Create, list, change and rotate tokens", tokenCommands},
	{"project", "Create and list projects", projectCommands},
	{"member", "Add, list, re-role and remove members", memberCommands},
	{"policy", "Read and set the workspace policy", policyCommands},
	{"workspace", "Read the workspace", workspaceCommands},
	{"webhook", "Register webhook endpoints for notices and see their deliveries", webhookCommands},
	{"leak", "Report secrets found exposed: they are revoked (or disabled, by policy)", leakCommands},
	{"", "", reviewCommands}, // review and audit stand at the top level
}

// shorts are the one-line help of each command.
var shorts = map[string]string{
	"token create":       "Create a token; its secret is printed once, to stdout alone",
	"token list":         "List tokens, newest state first",
	"token get":          "Show one token with its usage",
	"token update":       "Rename, describe or transfer a token",
	"token disable":      "Disable a token (reversible); waits for the validators",
	"token enable":       "Enable a disabled token; waits for the validators",
	"token revoke":       "Revoke a token for good; waits for the validators",
	"token chain":        "Show the rotation chain a token belongs to, oldest first",
	"token rotate":       "Create a replacement with the same access and schedule the old one's end",
	"review":             "Find tokens that need attention: vague names, no expiry, broad access, …",
	"audit":              "Read the audit trail, newest first",
	"project create":     "Create a project",
	"project list":       "List projects",
	"member add":         "Add a member",
	"member list":        "List members",
	"member update":      "Change a member's role; lowering it caps their tokens",
	"member remove":      "Remove a member; their tokens are disabled unless the policy keeps them",
	"policy get":         "Show the workspace policy",
	"policy set":         "Change the workspace policy (owners)",
	"workspace get":      "Show the workspace",
	"webhook add":        "Register an endpoint for notices; its signing secret is printed once",
	"leak report":        "Report secrets read from stdin (one a line) as leaked, with --source",
	"webhook list":       "List endpoints with their last status and pending deliveries",
	"webhook delete":     "Remove an endpoint and its pending deliveries",
	"webhook deliveries": "Show an endpoint's deliveries, newest first",
}

// root builds the command tree.
func (c *cli) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "gatepassctl",
		Short: "gatepassctl administers gatepass through the issuer's RPCs",
		Long: `gatepassctl administers gatepass through the issuer's RPCs.

Your credential comes from GATEPASS_TOKEN or --token-file, never a flag.

Exit codes: 0 ok, 1 request refused, 2 usage, 3 auth, 4 server or network,
5 committed but not confirmed by every validator in time (disable, revoke).`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	f := root.PersistentFlags()
	f.StringVar(&c.issuerAddr, "issuer", envOr(c.getenv, "GATEPASS_ISSUER_ADDR", "127.0.0.1:7401"), "issuer address (env GATEPASS_ISSUER_ADDR)")
	f.StringVar(&c.tokenFile, "token-file", "", "file holding your gatepass token (default: env GATEPASS_TOKEN)")
	f.StringVarP(&c.output, "output", "o", "table", "output format: table or json")
	f.StringVar(&c.caFile, "tls-ca", "", "verify the issuer's TLS certificate with this CA (default plaintext)")
	f.BoolVar(&c.insecurePlain, "insecure", false, "allow plaintext to an issuer that is not on loopback")
	f.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-call timeout")
	complete(root, "output", "table", "json")
	for _, g := range groups {
		parent := root
		if g.name != "" {
			parent = &cobra.Command{Use: g.name, Short: g.short, RunE: missingSubcommand}
			root.AddCommand(parent)
		}
		for _, s := range g.commands {
			parent.AddCommand(c.leaf(s))
		}
	}
	return root
}

// leaf turns a command's table entry into a cobra command.
func (c *cli) leaf(s command) *cobra.Command {
	name := s.words[len(s.words)-1]
	use := name
	if s.args < 0 {
		use += " [ID...]"
	}
	if s.args == 1 {
		use += " ID"
		switch strings.Join(s.words, " ") {
		case "project create":
			use = name + " NAME"
		case "webhook add":
			use = name + " URL"
		}
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: shorts[strings.Join(s.words, " ")],
		Args: func(_ *cobra.Command, args []string) error {
			if s.args >= 0 && len(args) != s.args {
				return usagef("%s: want %d argument(s), got %d", strings.Join(s.words, " "), s.args, len(args))
			}
			return nil
		},
	}
	run := s.flags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c.done(c.exec(cmd.Context(), run, args))
		return nil
	}
	complete(cmd, "role", roleNames()...)
	complete(cmd, "status", "active", "disabled", "revoked")
	complete(cmd, "min-severity", "low", "medium", "high")
	complete(cmd, "vague-action", "reject", "flag")
	complete(cmd, "events", "token.expiring", "token.expired", "token.disabled", "token.revoked", "token.leaked", "token.attempt", "member.removed", "review.digest")
	return cmd
}

// missingSubcommand answers a group called without a known subcommand: a
// usage error (cobra would print help and exit 0).
func missingSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return usagef("%s needs a subcommand; see %s --help", cmd.CommandPath(), cmd.CommandPath())
}

// complete offers values for a flag the command has, in shell completion.
func complete(cmd *cobra.Command, flag string, values ...string) {
	if cmd.Flags().Lookup(flag) == nil && cmd.PersistentFlags().Lookup(flag) == nil {
		return
	}
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

func roleNames() []string {
	var out []string
	for v := gatepassv1.Role_ROLE_VIEWER; v <= gatepassv1.Role_ROLE_OWNER; v++ {
		out = append(out, strings.ToLower(strings.TrimPrefix(v.String(), "ROLE_")))
	}
	return out
}

// longFlags turns the first version's single-dash long flags ("-name x",
// "-forbid-never-expires=true") into GNU style ("--name x"), so scripts
// written for it keep working. Only names some command defines are
// rewritten, and nothing after "--".
func longFlags(root *cobra.Command, args []string) []string {
	known := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		add := func(f *pflag.Flag) { known[f.Name] = true }
		cmd.Flags().VisitAll(add)
		cmd.PersistentFlags().VisitAll(add)
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(name) > 1 && known[name] {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}
