// Command example is a small HTTP API protected by gatepass: every request
// needs a token with at least the tester role, checked by the validators
// in GATEPASS_VALIDATOR_ADDR (comma-separated).
//
//	go run ./pkg/client/example   # with make run going in another terminal
//	curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/whoami
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/gatepass/gatepass/pkg/client"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Getenv("GATEPASS_VALIDATOR_ADDR"), "127.0.0.1:8080"); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, validators, listen string) error {
	if validators == "" {
		validators = "127.0.0.1:7402"
	}
	c, err := client.New(client.Options{Addrs: strings.Split(validators, ",")})
	if err != nil {
		return err
	}
	defer c.Close()
	whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := client.PrincipalFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"token_id": p.TokenID, "workspace_id": p.WorkspaceID, "project_id": p.ProjectID,
			"role": p.Role.String(), "owner_id": p.OwnerID,
		})
	})
	mux := http.NewServeMux()
	mux.Handle("/whoami", c.Middleware(func(*http.Request) client.Requirement {
		return client.Requirement{MinRole: gatepassv1.Role_ROLE_TESTER}
	}, nil, whoami))
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(os.Stderr, "example API on http://%s/whoami\n", listen)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
