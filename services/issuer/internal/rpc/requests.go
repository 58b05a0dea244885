package rpc

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"

	"github.com/gatepass/gatepass/pkg/grpcserver"
	"github.com/gatepass/gatepass/pkg/token"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// defaultPageSize is the page of a list call that names none; the largest
// (1000) is a rule in the proto.
const defaultPageSize = 100

// Rules returns the issuer's grpcserver.ValidateFunc: the buf.validate
// rules of every request's proto, then Check. now is the clock of
// timestamp rules such as "expire_time must be in the future".
func Rules(now func() time.Time) (grpcserver.ValidateFunc, error) {
	return grpcserver.Rules(now, Check)
}

// Check is what no proto rule says for every field at once: no string
// field of any request, at any depth, holds a well-formed token secret, and
// every timestamp and duration is well formed. The rest that rules cannot
// say belongs to the handler that reads it: page tokens (decoded where they
// are used) and policies (package policy).
func Check(req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	if leak, ok := req.(*gatepassv1.ReportLeakedTokensRequest); ok {
		// The one field made to carry secrets: the rest of it is checked.
		m = &gatepassv1.ReportLeakedTokensRequest{SourceUrl: leak.GetSourceUrl()}
	}
	if field := find(m.ProtoReflect(), holdsSecret); field != "" {
		// Never echo the value: it holds a secret.
		return grpcserver.FieldError(field, "must not contain a token secret; revoke a leaked token instead of quoting it")
	}
	if field := find(m.ProtoReflect(), malformedTime); field != "" {
		return grpcserver.FieldError(field, "is not a valid time or duration")
	}
	return nil
}

func holdsSecret(v protoreflect.Value) bool {
	s, ok := v.Interface().(string)
	return ok && token.ContainsSecret(s)
}

func malformedTime(v protoreflect.Value) bool {
	m, ok := v.Interface().(protoreflect.Message)
	if !ok {
		return false
	}
	switch t := m.Interface().(type) {
	case *timestamppb.Timestamp:
		return t.CheckValid() != nil
	case *durationpb.Duration:
		return t.CheckValid() != nil
	}
	return false
}

// find returns the path of the first field of m, at any depth, with a
// value (a list's or map's element, a message itself) for which bad holds;
// "" if none.
func find(m protoreflect.Message, bad func(protoreflect.Value) bool) (field string) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		switch {
		case fd.IsList():
			for i := range v.List().Len() {
				if f := inValue(v.List().Get(i), bad); f != "" || bad(v.List().Get(i)) {
					field = fmt.Sprintf("%s[%d]%s", name, i, f)
					break
				}
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if bad(k.Value()) || bad(mv) || inValue(mv, bad) != "" {
					field = name
				}
				return field == ""
			})
		case bad(v):
			field = name
		default:
			if f := inValue(v, bad); f != "" {
				field = name + f
			}
		}
		return field == ""
	})
	return field
}

// inValue looks inside v when it is a message: ".path" or "".
func inValue(v protoreflect.Value, bad func(protoreflect.Value) bool) string {
	if m, ok := v.Interface().(protoreflect.Message); ok {
		if f := find(m, bad); f != "" {
			return "." + f
		}
	}
	return ""
}

var (
	idPattern      = regexp.MustCompile(`^[a-z]{2,4}_[0-9A-Za-z]{22}$`)
	auditIDPattern = regexp.MustCompile(`^aud_[0-9a-f]{16}$`)
)

func encodePageToken(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

// decodePageToken returns the id a ListTokens page token holds; "" for none.
func decodePageToken(t string) (string, error) {
	return decodeAs(t, idPattern)
}

// decodeAuditPageToken returns the audit id a ListAuditEvents page token
// holds; "" for none.
func decodeAuditPageToken(t string) (string, error) {
	return decodeAs(t, auditIDPattern)
}

func decodeAs(t string, pattern *regexp.Regexp) (string, error) {
	if t == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || !pattern.Match(b) {
		return "", fmt.Errorf("bad page token")
	}
	return string(b), nil
}

// errBadPageToken is the answer to a page token this service did not return.
var errBadPageToken = grpcserver.FieldError("page_token", "is not a token returned by this RPC")
