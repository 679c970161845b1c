#!/bin/sh
# Makes bamf's internal CA for a Kubernetes install, where every bamf-api
# replica must hold the same CA (ARCHITECTURE §3): an ECDSA P-256 key (PKCS#8)
# and a self-signed certificate shaped as bamf-api makes its own (CN "bamf
# internal CA", basicConstraints critical CA:TRUE pathlen 0, keyUsage
# keyCertSign and cRLSign, 10 years). The key is written with mode 0600.
#
#   deploy/k8s/make-ca.sh bamf-ca       # writes bamf-ca/ca.key, bamf-ca/ca.crt
#   kubectl -n bamf create secret generic bamf-ca \
#     --from-file=bamf-ca/ca.crt --from-file=bamf-ca/ca.key
#
# Keep the key somewhere safe and off this machine afterwards: whoever has it
# can issue session certificates. tests/tests/deploy.rs runs this script and
# loads the result with bamf-api's own CA loader.
set -eu
dir=${1:?usage: make-ca.sh DIR}
if [ -e "$dir/ca.key" ] || [ -e "$dir/ca.crt" ]; then
  echo "make-ca: $dir already holds a CA; not replacing it" >&2
  exit 1
fi
command -v openssl >/dev/null || { echo "make-ca: openssl is needed" >&2; exit 1; }
mkdir -p "$dir"
umask 077
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key"
umask 022
openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 3650 \
  -subj "/CN=bamf internal CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$dir/ca.crt"
echo "make-ca: wrote $dir/ca.key (0600) and $dir/ca.crt"
