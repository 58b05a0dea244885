// Package natsjs reads the token stream's state on JetStream for both
// halves of the propagation protocol (package propagation itself does no
// I/O).
package natsjs

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/nats-io/nats.go/jetstream"
)

// Info reads the token stream's state; propagation.ErrNoStream when it
// does not exist.
func Info(ctx context.Context, js jetstream.JetStream) (propagation.StreamInfo, error) {
	stream, err := js.Stream(ctx, event.StreamName)
	if err == nil {
		var info *jetstream.StreamInfo
		if info, err = stream.Info(ctx); err == nil {
			return FromInfo(info), nil
		}
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return propagation.StreamInfo{}, propagation.ErrNoStream
	}
	return propagation.StreamInfo{}, fmt.Errorf("token stream: %w", err)
}

// FromInfo is what the protocol needs of JetStream's stream info.
func FromInfo(info *jetstream.StreamInfo) propagation.StreamInfo {
	return propagation.StreamInfo{Created: info.Created, FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq, Msgs: info.State.Msgs}
}
