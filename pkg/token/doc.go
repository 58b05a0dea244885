// Package token mints and parses gatepass token secrets.
//
// A secret reads <prefix>_<random><checksum>: the prefix ("gp" by default),
// an underscore, 30 base62 characters drawn from crypto/rand (about 178
// bits), and six base62 characters holding the CRC32 (IEEE) of everything
// before them. For the default prefix every secret matches
//
//	\bgp_[0-9A-Za-z]{36}\b
//
// which secret scanners (gitleaks, GitHub secret scanning) can use to find
// leaked tokens; the checksum lets them rule out look-alikes offline.
//
// Parse checks prefix, length, alphabet and checksum before anyone looks the
// secret up, so garbage never reaches a store. Secrets are stored and looked
// up by their SHA-256 digest: a random 178-bit secret needs no slow password
// hash.
//
// # Caveats
//
// Errors never quote the secret; callers must not either. Hint returns the
// last four characters, which belong to the checksum and reveal nothing of
// the random part beyond what the checksum already does.
package token
