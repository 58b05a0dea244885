package rpc

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/grpcserver"
	"github.com/gatepass/gatepass/pkg/token"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Limits on request fields.
const (
	maxNameLen        = 64
	minTokenNameLen   = 3
	maxDescriptionLen = 1024
	maxReasonLen      = 512
	maxDisplayNameLen = 128
	maxEmailLen       = 254
	maxCIDRs          = 32
	maxPageSize       = 1000
	defaultPageSize   = 100
)

var idPattern = regexp.MustCompile(`^[a-z]{2,4}_[0-9A-Za-z]{22}$`)

// Validator checks every request message; it is the grpcserver.ValidateFunc
// of the issuer. A request type without a case is refused, so a new RPC
// cannot go unvalidated.
type Validator struct {
	Now func() time.Time
}

// Validate returns an InvalidArgument status naming the first bad field.
func (v Validator) Validate(req any) error {
	switch r := req.(type) {
	case *gatepassv1.CreateTokenRequest:
		return first(
			text("name", r.GetName(), minTokenNameLen, maxNameLen),
			text("description", r.GetDescription(), 0, maxDescriptionLen),
			optionalID("project_id", r.GetProjectId(), "prj"),
			role("role", r.GetRole()),
			v.expiry(r.GetExpireTime(), r.GetNeverExpires()),
			optionalID("owner_id", r.GetOwnerId(), "mem"),
			cidrs("allowed_cidrs", r.GetAllowedCidrs()),
		)
	case *gatepassv1.UpdateTokenRequest:
		return updateToken(r)
	case *gatepassv1.RotateTokenRequest:
		return first(
			requiredID("token_id", r.GetTokenId(), "tok"),
			optionalText("name", r.GetName(), minTokenNameLen, maxNameLen),
			v.optionalFuture("expire_time", r.GetExpireTime()),
			delay("disable_old_after", r.GetDisableOldAfter()),
			delay("revoke_old_after", r.GetRevokeOldAfter()),
			text("reason", r.GetReason(), 0, maxReasonLen),
		)
	case *gatepassv1.ReviewTokensRequest:
		return first(
			optionalID("project_id", r.GetProjectId(), "prj"),
			enum("min_severity", int32(r.GetMinSeverity()), gatepassv1.Severity_name),
		)
	case *gatepassv1.ListAuditEventsRequest:
		return first(
			optionalAnyID("target_id", r.GetTargetId()),
			optionalID("actor_token_id", r.GetActorTokenId(), "tok"),
			optionalText("action", r.GetAction(), 1, maxNameLen),
			validTime("start_time", r.GetStartTime()),
			validTime("end_time", r.GetEndTime()),
			pageSize(r.GetPageSize()),
			auditPageToken(r.GetPageToken()),
		)
	case *gatepassv1.GetPolicyRequest:
		return nil
	case *gatepassv1.UpdatePolicyRequest:
		if r.GetPolicy() == nil {
			return grpcserver.FieldError("policy", "is required")
		}
		return nil
	case *gatepassv1.GetTokenRequest:
		return requiredID("token_id", r.GetTokenId(), "tok")
	case *gatepassv1.ListTokensRequest:
		return first(
			optionalID("project_id", r.GetProjectId(), "prj"),
			enum("status", int32(r.GetStatus()), gatepassv1.TokenStatus_name),
			optionalID("owner_id", r.GetOwnerId(), "mem"),
			pageSize(r.GetPageSize()),
			pageToken(r.GetPageToken()),
		)
	case *gatepassv1.DisableTokenRequest:
		return lifecycle(r.GetTokenId(), r.GetReason())
	case *gatepassv1.EnableTokenRequest:
		return lifecycle(r.GetTokenId(), r.GetReason())
	case *gatepassv1.RevokeTokenRequest:
		return lifecycle(r.GetTokenId(), r.GetReason())
	case *gatepassv1.GetWorkspaceRequest, *gatepassv1.ListProjectsRequest, *gatepassv1.ListMembersRequest:
		return nil
	case *gatepassv1.CreateProjectRequest:
		return text("name", r.GetName(), 1, maxNameLen)
	case *gatepassv1.AddMemberRequest:
		return first(
			text("display_name", r.GetDisplayName(), 1, maxDisplayNameLen),
			email("email", r.GetEmail()),
			role("role", r.GetRole()),
		)
	case *gatepassv1.UpdateMemberRoleRequest:
		return first(requiredID("member_id", r.GetMemberId(), "mem"), role("role", r.GetRole()))
	case *gatepassv1.RemoveMemberRequest:
		return requiredID("member_id", r.GetMemberId(), "mem")
	}
	return status.Errorf(codes.Internal, "no validation for %T", req)
}

func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func lifecycle(tokenID, reason string) error {
	return first(requiredID("token_id", tokenID, "tok"), text("reason", reason, 0, maxReasonLen))
}

func text(field, s string, minLen, maxLen int) error {
	if !utf8.ValidString(s) {
		return grpcserver.FieldError(field, "must be valid UTF-8")
	}
	n := utf8.RuneCountInString(s)
	if n < minLen || n > maxLen {
		if minLen > 0 && n == 0 {
			return grpcserver.FieldError(field, "is required")
		}
		return grpcserver.FieldError(field, "must be %d to %d characters, got %d", minLen, maxLen, n)
	}
	for _, c := range s {
		// Cc and Cf: control characters, and invisible format characters
		// (zero-width, bidi overrides) that make text read as other text.
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
			return grpcserver.FieldError(field, "must not contain control or format characters")
		}
	}
	if token.ContainsSecret(s) {
		// Never echo the value: it holds a secret.
		return grpcserver.FieldError(field, "must not contain a token secret; revoke a leaked token instead of quoting it")
	}
	return nil
}

func optionalID(field, id, kind string) error {
	if id == "" {
		return nil
	}
	return requiredID(field, id, kind)
}

func requiredID(field, id, kind string) error {
	if id == "" {
		return grpcserver.FieldError(field, "is required")
	}
	if !idPattern.MatchString(id) || id[:len(kind)+1] != kind+"_" {
		return grpcserver.FieldError(field, "must be an id like %s_ followed by 22 base62 characters", kind)
	}
	return nil
}

func role(field string, r gatepassv1.Role) error {
	if r <= gatepassv1.Role_ROLE_UNSPECIFIED || r > gatepassv1.Role_ROLE_OWNER {
		return grpcserver.FieldError(field, "must be one of ROLE_VIEWER, ROLE_TESTER, ROLE_MAINTAINER, ROLE_ADMIN, ROLE_OWNER")
	}
	return nil
}

func enum(field string, v int32, names map[int32]string) error {
	if _, ok := names[v]; !ok {
		return grpcserver.FieldError(field, "unknown value %d", v)
	}
	return nil
}

func (v Validator) expiry(t *timestamppb.Timestamp, never bool) error {
	switch {
	case t != nil && never:
		return grpcserver.FieldError("never_expires", "must not be set together with expire_time")
	case t == nil:
		return nil
	}
	return v.optionalFuture("expire_time", t)
}

func (v Validator) optionalFuture(field string, t *timestamppb.Timestamp) error {
	if t == nil {
		return nil
	}
	if err := t.CheckValid(); err != nil {
		return grpcserver.FieldError(field, "is not a valid timestamp")
	}
	if !t.AsTime().After(v.Now()) {
		return grpcserver.FieldError(field, "must be in the future")
	}
	return nil
}

func validTime(field string, t *timestamppb.Timestamp) error {
	if t != nil && t.CheckValid() != nil {
		return grpcserver.FieldError(field, "is not a valid timestamp")
	}
	return nil
}

// maxDelay bounds scheduled disables and revokes after rotation.
const maxDelay = 365 * 24 * time.Hour

func delay(field string, d *durationpb.Duration) error {
	if d == nil {
		return nil
	}
	if d.CheckValid() != nil || d.AsDuration() < 0 || d.AsDuration() > maxDelay {
		return grpcserver.FieldError(field, "must be a duration from 0s to %v", maxDelay)
	}
	return nil
}

func optionalText(field, s string, minLen, maxLen int) error {
	if s == "" {
		return nil
	}
	return text(field, s, minLen, maxLen)
}

// optionalAnyID accepts any gatepass id kind (token, project, member, ...).
func optionalAnyID(field, id string) error {
	if id != "" && !idPattern.MatchString(id) {
		return grpcserver.FieldError(field, "must be an id like tok_ followed by 22 base62 characters")
	}
	return nil
}

var auditIDPattern = regexp.MustCompile(`^aud_[0-9a-f]{16}$`)

func auditPageToken(t string) error {
	if t == "" {
		return nil
	}
	if _, err := decodeAuditPageToken(t); err != nil {
		return grpcserver.FieldError("page_token", "is not a token returned by this RPC")
	}
	return nil
}

func decodeAuditPageToken(t string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || !auditIDPattern.Match(b) {
		return "", fmt.Errorf("bad page token")
	}
	return string(b), nil
}

// updatableTokenFields are the paths UpdateToken accepts.
var updatableTokenFields = map[string]bool{"name": true, "description": true, "owner_id": true}

func updateToken(r *gatepassv1.UpdateTokenRequest) error {
	if err := requiredID("token_id", r.GetTokenId(), "tok"); err != nil {
		return err
	}
	paths := r.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return grpcserver.FieldError("update_mask", "name at least one of name, description, owner_id")
	}
	for _, p := range paths {
		if !updatableTokenFields[p] {
			return grpcserver.FieldError("update_mask", "%q cannot be updated; use name, description or owner_id", p)
		}
	}
	return first(
		masked(paths, "name", func() error { return text("name", r.GetName(), minTokenNameLen, maxNameLen) }),
		masked(paths, "description", func() error { return text("description", r.GetDescription(), 0, maxDescriptionLen) }),
		masked(paths, "owner_id", func() error { return requiredID("owner_id", r.GetOwnerId(), "mem") }),
	)
}

func masked(paths []string, field string, check func() error) error {
	for _, p := range paths {
		if p == field {
			return check()
		}
	}
	return nil
}

func cidrs(field string, list []string) error {
	if len(list) > maxCIDRs {
		return grpcserver.FieldError(field, "at most %d entries", maxCIDRs)
	}
	for i, c := range list {
		p, err := netip.ParsePrefix(c)
		if err != nil || p != p.Masked() {
			return grpcserver.FieldError(fmt.Sprintf("%s[%d]", field, i), "must be a network in CIDR notation such as 10.0.0.0/8 or 2001:db8::/32")
		}
	}
	return nil
}

func email(field, s string) error {
	if s == "" {
		return nil
	}
	if err := text(field, s, 3, maxEmailLen); err != nil {
		return err
	}
	for i, c := range s {
		if c == '@' && i > 0 && i < len(s)-1 {
			return nil
		}
	}
	return grpcserver.FieldError(field, "must be an address like name@example.com")
}

func pageSize(n int32) error {
	if n < 0 || n > maxPageSize {
		return grpcserver.FieldError("page_size", "must be 0 to %d", maxPageSize)
	}
	return nil
}

func pageToken(t string) error {
	if t == "" {
		return nil
	}
	if _, err := decodePageToken(t); err != nil {
		return grpcserver.FieldError("page_token", "is not a token returned by this RPC")
	}
	return nil
}

func encodePageToken(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

func decodePageToken(t string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return "", err
	}
	if !idPattern.Match(b) {
		return "", fmt.Errorf("bad page token")
	}
	return string(b), nil
}
