package access

import (
	"errors"
	"fmt"
)

// Status is a token's stored state; values match gatepass.v1.TokenStatus.
type Status int32

// The states. Expiry is computed from the expiry time, not stored.
const (
	StatusNone Status = iota
	StatusActive
	StatusDisabled
	StatusRevoked
)

// Action is a lifecycle change.
type Action int

// The lifecycle changes.
const (
	Disable Action = iota + 1
	Enable
	Revoke
)

// ErrIllegalTransition is returned when an action does not apply to a
// token's current state.
var ErrIllegalTransition = errors.New("illegal state change")

// Transition returns the state after applying a to s:
// ACTIVE ⇄ DISABLED, either → REVOKED, nothing leaves REVOKED.
func Transition(s Status, a Action) (Status, error) {
	switch {
	case a == Disable && s == StatusActive:
		return StatusDisabled, nil
	case a == Enable && s == StatusDisabled:
		return StatusActive, nil
	case a == Revoke && (s == StatusActive || s == StatusDisabled):
		return StatusRevoked, nil
	}
	return s, fmt.Errorf("%w: cannot %s a %s token", ErrIllegalTransition, a, s)
}

func (a Action) String() string {
	switch a {
	case Disable:
		return "disable"
	case Enable:
		return "enable"
	case Revoke:
		return "revoke"
	}
	return "change"
}

func (s Status) String() string {
	switch s {
	case StatusActive:
		return "active"
	case StatusDisabled:
		return "disabled"
	case StatusRevoked:
		return "revoked"
	}
	return "unknown"
}
