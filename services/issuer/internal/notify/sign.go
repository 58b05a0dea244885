package notify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// secretPrefix marks a Standard Webhooks signing secret.
const secretPrefix = "whsec_"

// NewSecret returns a fresh signing key and its printed form
// ("whsec_" and base64), shown to the caller once.
func NewSecret() (key []byte, printed string, err error) {
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, "", err
	}
	return key, secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ParseSecret returns the key of a printed secret.
func ParseSecret(printed string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(printed, secretPrefix))
	if err != nil || len(b) == 0 {
		return nil, errors.New("not a webhook secret")
	}
	return b, nil
}

// Sign returns the webhook-signature header value of a delivery: "v1,"
// and the base64 HMAC-SHA256 of id.timestamp.body under key, as the
// Standard Webhooks specification says.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}
