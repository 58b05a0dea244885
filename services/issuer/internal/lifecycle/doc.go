// Package lifecycle holds the issuer's write operations: creating,
// changing, updating and rotating tokens, the rotation scheduler, members,
// projects, the policy and the bootstrap. Each operation checks the
// caller's authority and the input the domain needs, runs in one store
// transaction (the change, its event and its audit record together), and
// tells the publisher after the commit, so no caller can forget to.
//
// Package rpc adapts requests to these operations, waits for receipts and
// maps the errors below to status codes; lifecycle knows nothing of gRPC.
//
// Every operation costs O(log n) in the number of tokens, plus the tokens
// it touches: the name check is one index lookup, a member's tokens come
// from the owner index.
//
// # Caveats
//
// Operations run under store.Batch may run more than once (a failing
// batch is retried call by call); their functions only write through the
// transaction and set results, never keep side effects of their own.
package lifecycle
