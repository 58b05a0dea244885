package lifecycle

import (
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The checks below are what the domain itself needs of its input, so an
// operation is safe whoever calls it; the request rules in the proto say
// more (lengths, patterns) and run first for RPCs.

func requireRole(field string, r gatepassv1.Role) error {
	if !access.Role(r).Valid() {
		return &policy.Violation{Field: field, Msg: "must be one of viewer, tester, maintainer, admin, owner"}
	}
	return nil
}

func requireName(field, name string) error {
	if strings.TrimSpace(name) == "" {
		return &policy.Violation{Field: field, Msg: "is required"}
	}
	return nil
}

func requireDelay(field string, d *durationpb.Duration) error {
	if d != nil && (d.CheckValid() != nil || d.AsDuration() < 0) {
		return &policy.Violation{Field: field, Msg: "must be a duration of 0s or more"}
	}
	return nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
