#!/bin/sh
# The compose stack's first-start set-up, run by the one-shot `setup` service
# once bamf-api is ready, and before the agent starts:
#
# 1. logs in as the first admin (ADMIN_EMAIL, the password `secrets` made and
#    bamf-api created the admin with);
# 2. creates a single-use join token for the demo agent and keeps it in the
#    `secrets` volume as join-token (the agent joins with it on its first
#    start, then keeps its own identity);
# 3. prints how to log in, with the password, this once.
#
# On every later start join-token exists and it only says where the password is.
set -eu
dir=${BAMF_SECRETS_DIR:-/run/bamf-secrets}
: "${BAMF_API_URL:?the API URL bamfctl uses}"
: "${ADMIN_EMAIL:?the first admin e-mail, bamf-api admin_email}"
: "${PUBLIC_API_URL:?the API URL as seen from the host}"

if [ -s "$dir/join-token" ]; then
  cat <<MSG

  bamf: set up already. Log in with
    BAMF_API_URL=$PUBLIC_API_URL bamfctl login --email $ADMIN_EMAIL
  The password: docker compose -f deploy/compose.yaml exec api cat /run/bamf-secrets/admin-password

MSG
  exit 0
fi

bamfctl login --email "$ADMIN_EMAIL" --password-stdin < "$dir/admin-password" >/dev/null
umask 077
bamfctl tokens create --name demo-agent --uses 1 --ttl 24h --json > "$dir/join-token.json"
token=$(sed -n 's/^ *"token": *"\([^"]*\)".*$/\1/p' "$dir/join-token.json")
rm -f "$dir/join-token.json"
if [ -z "$token" ]; then
  echo "setup: bamfctl tokens create answered no token" >&2
  exit 1
fi
printf '%s\n' "$token" > "$dir/join-token.partial"
mv "$dir/join-token.partial" "$dir/join-token"
bamfctl logout >/dev/null

cat <<MSG

  bamf is up. The first admin:
    e-mail:   $ADMIN_EMAIL
    password: $(cat "$dir/admin-password")
  This password is shown only once (later: docker compose -f deploy/compose.yaml
  exec api cat /run/bamf-secrets/admin-password). Log in and reach the demos:
    export BAMF_API_URL=$PUBLIC_API_URL
    bamfctl login --email $ADMIN_EMAIL
    bamfctl resources
    bamfctl ssh demo@demo -- uname -a        # password: demo
    bamfctl psql demo-db -U demo -d demo     # password: demo

MSG
