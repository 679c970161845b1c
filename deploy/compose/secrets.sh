#!/bin/sh
# The compose stack's secrets, made once on its first start by the one-shot
# `secrets` service, into the `secrets` volume (mode 0600 files, owner bamf):
#
#   admin-password          the first admin's password (bamf-api admin_password)
#   bridge-bootstrap-token  the bridge's enrolment token (bamf-api
#                           bridge_bootstrap_token = bamf-bridge bootstrap_token)
#
# A file that exists is kept, so every later start uses the same values. The
# services read them through with-secrets.sh; `setup` adds join-token.
# BAMF_SECRETS_DIR overrides the folder (the deploy test runs this script).
set -eu
dir=${BAMF_SECRETS_DIR:-/run/bamf-secrets}
cd "$dir"
umask 077

# make NAME LENGTH: LENGTH random characters of [A-Za-z0-9] into NAME, unless
# NAME exists. Written aside and renamed, so a half-written file never counts.
make() {
  [ -s "$1" ] && return 0
  value=$(head -c 1024 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c "$2")
  [ "${#value}" -eq "$2" ] || { echo "secrets: too few random bytes for $1" >&2; exit 1; }
  printf '%s\n' "$value" > "$1.partial"
  mv "$1.partial" "$1"
  echo "secrets: made $1"
}

make admin-password 24
# bamf-api wants at least 32 characters.
make bridge-bootstrap-token 48
