// Package sim is the deterministic simulator of the propagation protocol,
// in the spirit of FoundationDB's simulation and TigerBeetle's VOPR.
//
// It runs the real protocol code (the issuer's propagation.Publisher and
// propagation.Tracker, the validator's follow.Follower over its real bbolt
// cache, and the validator's decision path) in one goroutine, against a
// simulated clock, a simulated JetStream stream and a simulated core-NATS
// bus. Everything random comes from one seed, so a failing seed replays
// exactly.
//
// Faults, when enabled: message delay (occasionally longer than the
// staleness bound), loss, duplication and so reordering on the bus;
// validators and the issuer partitioned from NATS; validator crashes and
// restarts with the cache kept, lost or corrupted; issuer crashes and
// restarts (the outbox is durable); the stream lost and recreated; clock
// skew within the stated bound; validator reports captured and replayed;
// old signed token events re-appended to the stream by an attacker who can
// publish on NATS; in a quarter of the seeds, one validator misconfigured
// with three times the issuer's maximum answer bound.
//
// The checker (check.go) records every validation answer and every
// complete receipt and asserts, over the whole history:
//
//	(a) no validation that starts after a complete receipt for a disable or
//	    revoke accepts the token from a state older than the change;
//	(b) once faults heal, every validator serves and holds the issuer's
//	    state of every token;
//	(c) hence every committed change reached every live validator.
//
// # Caveats
//
// The issuer's database is modelled in memory (issuer.go implements the
// propagation.Outbox interface the way package store does); everything the
// propagation protocol decides runs for real. Consumer delivery is a pull
// every few milliseconds rather than JetStream's push.
package sim
