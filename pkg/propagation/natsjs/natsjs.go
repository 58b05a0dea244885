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
// does not exist. One request: the stream handle comes with the state it
// was fetched with (asking the handle again would be a second round trip,
// on the path of every receipt).
func Info(ctx context.Context, js jetstream.JetStream) (propagation.StreamInfo, error) {
	stream, err := js.Stream(ctx, event.StreamName)
	if err == nil {
		return FromInfo(stream.CachedInfo()), nil
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
