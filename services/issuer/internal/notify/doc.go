// Package notify delivers the notices the issuer stores (package store):
// to webhook endpoints, in the Standard Webhooks format, and to NATS
// (gatepass.notice.<workspace>) for consumers there.
//
// A delivery is attempted when due, up to eight at a time; a failed one is
// retried with exponential backoff and jitter from RetryBase up to an hour
// between attempts, until RetryWindow has passed since the notice, then
// marked failed. Delivery state lives in bbolt, so retries go on across
// issuer restarts; a crash between a delivery and its record delivers it
// again with the same webhook-id, which receivers use to deduplicate.
//
// # Caveats
//
// Webhook targets are checked twice against internal addresses (loopback,
// private, link-local and cloud metadata ranges, CGNAT, unspecified and
// multicast): at registration, after resolving the host, and at every
// connection by the dialer, so a name that later resolves inward (DNS
// rebinding) is refused too. A workspace policy may allow private targets,
// and only then plain http. Redirects are not followed and no proxy is used.
package notify
