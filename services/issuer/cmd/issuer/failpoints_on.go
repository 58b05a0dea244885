//go:build failpoints

package main

import "github.com/gatepass/gatepass/pkg/config"

// bindFailpoints offers the crash tests' failpoints as flags. Only a build
// with -tags failpoints has them (the end-to-end harness builds one).
func bindFailpoints(l *config.Loader, c *Config) {
	l.Bool(&c.FailpointHaltPublish, "failpoint-halt-publish", "GATEPASS_FAILPOINT_HALT_PUBLISH", false, "testing only: never publish the outbox")
}

func failpointHaltPublish(c Config) bool { return c.FailpointHaltPublish }
