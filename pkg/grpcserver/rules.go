package grpcserver

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Rules returns a ValidateFunc enforcing the buf.validate rules written in
// each request's proto, then extra, the checks those rules cannot say
// (page tokens, policies), in order. Timestamp rules such as gt_now read
// now, so a test on a fake clock sees the time it set.
//
// Every violation becomes one BadRequest field violation, named by the
// field's path ("allowed_cidrs[1]"). A rule written on the message (a CEL
// rule relating two fields) names its field by the part of its id before
// the first dot: "never_expires.excludes_expire_time" names never_expires.
func Rules(now func() time.Time, extra ...ValidateFunc) (ValidateFunc, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("request rules: %w", err)
	}
	clock := protovalidate.WithNowFunc(func() *timestamppb.Timestamp { return timestamppb.New(now()) })
	return func(req any) error {
		msg, ok := req.(proto.Message)
		if !ok {
			return status.Errorf(codes.Internal, "no rules for %T", req)
		}
		if err := v.Validate(msg, clock); err != nil {
			return rulesStatus(err)
		}
		for _, check := range extra {
			if err := check(req); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// rulesStatus turns protovalidate's answer into InvalidArgument with a
// BadRequest naming every field at fault. Rule messages describe the rule,
// never the value, so nothing the caller sent is echoed.
func rulesStatus(err error) error {
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) == 0 {
		// A rule that could not be evaluated is our bug, not the caller's.
		return status.Error(codes.Internal, "request rules could not be checked")
	}
	br := &errdetails.BadRequest{}
	var parts []string
	for _, v := range ve.Violations {
		field := protovalidate.FieldPathString(v.Proto.GetField())
		if field == "" {
			field, _, _ = strings.Cut(v.Proto.GetRuleId(), ".")
		}
		desc := v.Proto.GetMessage()
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: field, Description: desc})
		parts = append(parts, fmt.Sprintf("invalid %s: %s", field, desc))
	}
	st := status.New(codes.InvalidArgument, strings.Join(parts, "; "))
	if d, err := st.WithDetails(br); err == nil {
		st = d
	}
	return st.Err()
}
