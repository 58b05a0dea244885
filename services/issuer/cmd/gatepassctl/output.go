package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/roles"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// print writes m as JSON with -o json, else runs table.
func (c *cli) print(m proto.Message, table func()) error {
	if c.output == "json" {
		b, err := protojson.Marshal(m)
		if err != nil {
			return err
		}
		// protojson varies its whitespace on purpose; scripts get a stable,
		// indented form.
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return err
		}
		_, err = fmt.Fprintln(c.stdout, out.String())
		return err
	}
	table()
	return nil
}

// secret hands a new secret over: alone on stdout, or into a 0600 file with
// the token's details on stdout. With -o json and no file, the whole
// response (secret included) is the JSON on stdout.
func (c *cli) secret(resp proto.Message, secret string, t *gatepassv1.Token, r *gatepassv1.PropagationReceipt, file string) error {
	if file != "" {
		if err := writeSecretFile(file, secret); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "secret written to %s; it is not shown again\n", file)
		return c.print(t, func() { c.tokenDetail(t); c.receipt(r) })
	}
	if c.output == "json" {
		return c.print(resp, nil)
	}
	fmt.Fprintf(c.stderr, "created %s (%s, %s); the secret below is shown only once\n", clean(t.GetId()), clean(t.GetName()), role(t.GetRole()))
	c.receiptTo(r)
	_, err := fmt.Fprintln(c.stdout, secret)
	return err
}

type table struct {
	w *tabwriter.Writer
}

func (c *cli) table(headers ...string) *table {
	t := &table{w: tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cells ...string) {
	for i, s := range cells {
		if s == "" {
			cells[i] = "-"
		}
		cells[i] = clean(cells[i])
	}
	fmt.Fprintln(t.w, strings.Join(cells, "\t"))
}

func (t *table) flush() { _ = t.w.Flush() }

func when(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func role(r gatepassv1.Role) string { return roles.Name(r) }

func tokenStatus(s gatepassv1.TokenStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "TOKEN_STATUS_"))
}

func expires(t *gatepassv1.Token) string {
	if t.GetNeverExpires() {
		return "never"
	}
	return when(t.GetExpireTime())
}

func (c *cli) tokenTable(ts []*gatepassv1.Token) {
	w := c.table("ID", "NAME", "PROJECT", "ROLE", "STATUS", "EXPIRES", "LAST USED", "HINT")
	for _, t := range ts {
		w.row(t.GetId(), t.GetName(), t.GetProjectId(), role(t.GetRole()), tokenStatus(t.GetStatus()), expires(t), when(t.GetLastUsedTime()), "…"+t.GetSecretHint())
	}
	w.flush()
}

func (c *cli) tokenDetail(t *gatepassv1.Token) {
	w := c.table("FIELD", "VALUE")
	for _, kv := range [][2]string{
		{"id", t.GetId()}, {"name", t.GetName()}, {"description", t.GetDescription()},
		{"workspace", t.GetWorkspaceId()}, {"project", t.GetProjectId()}, {"role", role(t.GetRole())},
		{"status", tokenStatus(t.GetStatus())}, {"status reason", t.GetStatusReason()},
		{"owner", t.GetOwnerId()}, {"created by", t.GetCreatedBy()}, {"created", when(t.GetCreateTime())},
		{"updated", when(t.GetUpdateTime())}, {"expires", expires(t)}, {"disabled", when(t.GetDisableTime())},
		{"revoked", when(t.GetRevokeTime())}, {"last used", when(t.GetLastUsedTime())},
		{"last used from", t.GetLastUsedIp()}, {"uses", fmt.Sprint(t.GetUseCount())},
		{"secret hint", "…" + t.GetSecretHint()}, {"replaces", t.GetReplacesTokenId()},
		{"replaced by", t.GetReplacedByTokenId()}, {"disable scheduled", when(t.GetScheduledDisableTime())},
		{"revoke scheduled", when(t.GetScheduledRevokeTime())}, {"allowed networks", strings.Join(t.GetAllowedCidrs(), ", ")},
		{"self-rotate", fmt.Sprint(t.GetSelfRotate())}, {"version", fmt.Sprint(t.GetVersion())},
	} {
		w.row(kv[0], kv[1])
	}
	w.flush()
}

func (c *cli) changed(t *gatepassv1.Token, r *gatepassv1.PropagationReceipt) {
	fmt.Fprintf(c.stdout, "%s %s is %s\n", clean(t.GetId()), clean(t.GetName()), tokenStatus(t.GetStatus()))
	c.receipt(r)
}

func (c *cli) receipt(r *gatepassv1.PropagationReceipt) {
	if r == nil {
		return
	}
	fmt.Fprintf(c.stdout, "propagation: %d of %d live validators applied it (worst lag %v)%s\n",
		r.GetValidatorsApplied(), r.GetValidatorsLive(), r.GetMaxLag().AsDuration().Round(time.Millisecond), incomplete(r))
}

func (c *cli) receiptTo(r *gatepassv1.PropagationReceipt) {
	if r != nil {
		fmt.Fprintf(c.stderr, "propagation: %d of %d live validators applied it%s\n", r.GetValidatorsApplied(), r.GetValidatorsLive(), incomplete(r))
	}
}

func incomplete(r *gatepassv1.PropagationReceipt) string {
	if r.GetComplete() {
		return ""
	}
	return " (INCOMPLETE: some validators have not confirmed yet)"
}

func (c *cli) nextPage(token string) {
	if token != "" {
		fmt.Fprintf(c.stderr, "more results: -page-token %s (or -all)\n", token)
	}
}

func (c *cli) findingTable(fs []*gatepassv1.Finding) {
	w := c.table("SEVERITY", "TOKEN", "NAME", "FINDING", "SUGGESTED ACTION", "DETAIL")
	for _, f := range fs {
		w.row(strings.ToLower(strings.TrimPrefix(f.GetSeverity().String(), "SEVERITY_")), f.GetTokenId(), f.GetTokenName(),
			strings.ToLower(strings.TrimPrefix(f.GetType().String(), "FINDING_TYPE_")),
			strings.ToLower(strings.TrimPrefix(f.GetSuggestedAction().String(), "SUGGESTED_ACTION_")), f.GetMessage())
	}
	w.flush()
}

func (c *cli) auditTable(es []*gatepassv1.AuditEvent) {
	w := c.table("TIME", "ACTION", "TARGET", "ACTOR TOKEN", "REASON", "DETAILS")
	for _, e := range es {
		keys := make([]string, 0, len(e.GetDetails()))
		for k := range e.GetDetails() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var details []string
		for _, k := range keys {
			details = append(details, k+"="+e.GetDetails()[k])
		}
		w.row(when(e.GetTime()), e.GetAction(), e.GetTargetId(), e.GetActorTokenId(), e.GetReason(), strings.Join(details, " "))
	}
	w.flush()
}

func (c *cli) projectTable(ps []*gatepassv1.Project) {
	w := c.table("ID", "NAME", "CREATED")
	for _, p := range ps {
		w.row(p.GetId(), p.GetName(), when(p.GetCreateTime()))
	}
	w.flush()
}

func (c *cli) memberTable(ms []*gatepassv1.Member) {
	w := c.table("ID", "NAME", "EMAIL", "ROLE", "STATE")
	for _, m := range ms {
		w.row(m.GetId(), m.GetDisplayName(), m.GetEmail(), role(m.GetRole()), strings.ToLower(strings.TrimPrefix(m.GetState().String(), "MEMBER_STATE_")))
	}
	w.flush()
}

func (c *cli) policyTable(p *gatepassv1.Policy) {
	dur := func(d interface{ AsDuration() time.Duration }, set bool) string {
		if !set {
			return "none"
		}
		return d.AsDuration().String()
	}
	w := c.table("SETTING", "VALUE")
	w.row("default lifetime", dur(p.GetDefaultLifetime(), p.GetDefaultLifetime() != nil))
	w.row("max lifetime", dur(p.GetMaxLifetime(), p.GetMaxLifetime() != nil))
	w.row("forbid never expires", fmt.Sprint(p.GetForbidNeverExpires()))
	w.row("vague names", strings.Join(p.GetVagueNames(), ", "))
	w.row("vague name action", strings.ToLower(strings.TrimPrefix(p.GetVagueNameAction().String(), "VAGUE_NAME_ACTION_")))
	w.row("keep tokens of removed members", fmt.Sprint(p.GetKeepTokensOfRemovedMembers()))
	w.row("max rotation overlap", dur(p.GetMaxRotationOverlap(), p.GetMaxRotationOverlap() != nil))
	w.row("require never-expires justification", fmt.Sprint(p.GetRequireNeverExpiresJustification()))
	w.row("disable unused after days", offOr(p.GetDisableUnusedDays()))
	w.row("revoke disabled after days", offOr(p.GetRevokeDisabledDays()))
	w.row("expiry notice days", fmt.Sprint(p.GetExpiryNoticeDays()))
	w.row("allow private webhook targets", fmt.Sprint(p.GetAllowPrivateWebhookTargets()))
	r := p.GetReview()
	w.row("review: expiring within days", fmt.Sprint(r.GetExpiringWithinDays()))
	w.row("review: unused days", fmt.Sprint(r.GetUnusedDays()))
	w.row("review: disabled days", fmt.Sprint(r.GetDisabledDays()))
	w.row("review: max sources", fmt.Sprint(r.GetMaxSources()))
	w.flush()
}

func offOr(days int32) string {
	if days == 0 {
		return "off"
	}
	return fmt.Sprint(days)
}

// clean escapes control and format characters (and tabs, which would break
// the columns) in stored text before it reaches a terminal: a name or a
// reason must not move the cursor, recolour the screen or reorder what is
// shown around it.
func clean(s string) string {
	if strings.IndexFunc(s, unsafeRune) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}
