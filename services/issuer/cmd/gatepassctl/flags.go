package main

import (
	"context"
	"strings"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type action = func(ctx context.Context, c *cli, args []string) error

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
func (m *multi) Type() string       { return "strings" }

// expiry binds the three ways to say when a token expires.
type expiry struct {
	in    time.Duration
	at    string
	never bool
}

func (e *expiry) bind(fs *pflag.FlagSet, withNever bool) {
	fs.DurationVar(&e.in, "expires-in", 0, "lifetime, e.g. 720h")
	fs.StringVar(&e.at, "expire-time", "", "expiry as RFC 3339, e.g. 2027-01-31T00:00:00Z")
	if withNever {
		fs.BoolVar(&e.never, "never-expires", false, "the explicit choice of a token that never expires")
	}
}

func (e *expiry) timestamp() (*timestamppb.Timestamp, error) {
	switch {
	case e.in != 0 && e.at != "":
		return nil, usagef("-expires-in and -expire-time exclude each other")
	case e.in != 0:
		return timestamppb.New(time.Now().Add(e.in)), nil
	case e.at != "":
		t, err := time.Parse(time.RFC3339, e.at)
		if err != nil {
			return nil, usagef("-expire-time: %v", err)
		}
		return timestamppb.New(t), nil
	}
	return nil, nil
}

func parseEnum(kind, s string, values map[string]int32) (int32, error) {
	if s == "" {
		return 0, nil
	}
	key := strings.ToUpper(kind + "_" + strings.TrimPrefix(strings.ToUpper(s), kind+"_"))
	v, ok := values[key]
	if !ok || v == 0 {
		return 0, usagef("unknown %s %q", strings.ToLower(kind), s)
	}
	return v, nil
}

func parseRole(s string) (gatepassv1.Role, error) {
	v, err := parseEnum("ROLE", s, gatepassv1.Role_value)
	return gatepassv1.Role(v), err
}

func optionalDuration(d time.Duration) *durationpb.Duration {
	if d <= 0 {
		return nil
	}
	return durationpb.New(d)
}
