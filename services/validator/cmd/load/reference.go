package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/grpc"
)

// empty is the reference every figure is compared with: ValidatorService
// answered by a handler that does nothing, on a plain grpc-go server with
// no interceptors, the ceiling for any gRPC service on this machine.
type empty struct {
	gatepassv1.UnimplementedValidatorServiceServer
}

func (empty) ValidateToken(context.Context, *gatepassv1.ValidateTokenRequest) (*gatepassv1.ValidateTokenResponse, error) {
	return &gatepassv1.ValidateTokenResponse{}, nil
}

// serveReference runs the empty gRPC handler and an empty net/http handler
// (200, no body) on loopback, prints their addresses, and serves until
// SIGTERM: a process of its own, as the validator is.
func serveReference() error {
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	gs := grpc.NewServer()
	gatepassv1.RegisterValidatorServiceServer(gs, empty{})
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })}
	go func() { _ = gs.Serve(glis) }()
	go func() { _ = hs.Serve(hlis) }()
	fmt.Printf("GATEPASS_CHECK_ADDR=%s\nGATEPASS_VALIDATOR_ADDR=%s\n", hlis.Addr(), glis.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	gs.Stop()
	return hs.Close()
}
