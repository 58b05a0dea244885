package client_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/gatepass/gatepass/pkg/client"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// A service that lets testers and above read results. See example/ for a
// complete program.
func ExampleClient_Middleware() {
	c, err := client.New(client.Options{Addrs: []string{"127.0.0.1:7402", "127.0.0.1:7412"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	results := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := client.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "results for token %s in workspace %s\n", p.TokenID, p.WorkspaceID)
	})
	http.Handle("/results", c.Middleware(func(*http.Request) client.Requirement {
		return client.Requirement{MinRole: gatepassv1.Role_ROLE_TESTER}
	}, nil, results))
}
