#!/usr/bin/env bash
# Makes a private CA and certificates for docker-compose.yml: one per NATS
# node, the issuer and the validators. For trying the production shape out;
# use your own PKI in production.
set -euo pipefail
cd "$(dirname "$0")"
umask 077
openssl req -x509 -newkey ed25519 -nodes -days 365 -subj "/CN=gatepass test CA" -keyout ca.key -out ca.crt
for name in nats-1 nats-2 nats-3 issuer validator-1 validator-2; do
  openssl req -newkey ed25519 -nodes -subj "/CN=$name" -keyout "$name.key" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
    -extfile <(printf "subjectAltName=DNS:%s,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth" "$name") \
    -out "$name.crt"
  rm "$name.csr"
done
chmod 644 ./*.crt ./*.key  # read by the non-root containers
echo "certificates written to $(pwd)"
