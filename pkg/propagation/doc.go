// Package propagation is the issuer's half of the propagation protocol,
// and the rules both halves share: the Publisher moves the outbox to the
// token stream and dates each publication at JetStream's acknowledgement;
// the Tracker turns validator reports into receipts; Digest summarizes
// token states for checkpoints. docs/propagation.md specifies the protocol
// and its assumptions.
//
// Nothing here does I/O except through the Outbox, Stream and Bus
// interfaces, and nothing reads a clock except through the functions
// passed in, so the simulator runs this exact code.
//
// # Caveats
//
// Receipts are as good as the assumptions: validator clocks within
// MaxSkew of the issuer's, every validator's answer bound at most
// MaxBound, one key per validator. Without keys (development mode) a
// validator whose reports stop is assumed to have lost contact.
package propagation
