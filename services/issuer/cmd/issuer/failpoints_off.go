//go:build !failpoints

package main

import "github.com/gatepass/gatepass/pkg/config"

// bindFailpoints: a production build has no failpoints.
func bindFailpoints(*config.Loader, *Config) {}

func failpointHaltPublish(Config) bool { return false }
