#!/usr/bin/env bash
# Makes a cluster CA and one certificate per central, signed by it (PEM files for the `tls`
# section of p2p_config.json). Usage: gen.sh OUT_DIR NAME=HOST[,HOST...] ...
#   e.g. gen.sh /etc/parkmesh central-1=192.168.1.10 central-2=192.168.1.11,site-b.local
# Each HOST is an IP address or DNS name the other centrals use to reach that central; it goes
# into the certificate's subjectAltName. Keep ca.key offline once the certificates are made.
# The files in this folder were made with:
#   gen.sh config/tls-test central-test=127.0.0.1,localhost,::1
# (ca.key then deleted; stranger-ca.pem is an unrelated CA for negative tests) and are for
# tests and demos only: their private keys are public.
set -euo pipefail
out=$1; shift
mkdir -p "$out"
if [ ! -f "$out/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500 \
    -subj "/CN=parkmesh cluster CA" -keyout "$out/ca.key" -out "$out/ca.pem" 2>/dev/null
fi
for spec in "$@"; do
  name=${spec%%=*}; hosts=${spec#*=}; san=""
  IFS=, read -ra list <<< "$hosts"
  for h in "${list[@]}"; do
    if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san+="IP:$h,"; else san+="DNS:$h,"; fi
  done
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$out/$name.key" -out "$out/$name.csr" 2>/dev/null
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
    -days 36500 -extfile <(printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' "${san%,}") \
    -out "$out/$name.pem" 2>/dev/null
  rm -f "$out/$name.csr"
  echo "$out/$name.pem $out/$name.key (${san%,})"
done
