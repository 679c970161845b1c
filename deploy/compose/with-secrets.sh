#!/bin/sh
# Runs a program with environment variables read from secret files:
#
#   with-secrets.sh VAR=FILE... -- PROGRAM [ARG...]
#
# sets each VAR to the content of FILE (in /run/bamf-secrets, the `secrets`
# volume; BAMF_SECRETS_DIR overrides it) without its final newline, then
# execs PROGRAM, which so replaces this shell and gets its signals directly.
# Secrets stay out of compose.yaml and out of `docker inspect`.
set -eu
dir=${BAMF_SECRETS_DIR:-/run/bamf-secrets}
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  var=${1%%=*}
  file=${1#*=}
  if [ "$var" = "$1" ] || [ -z "$var" ] || [ -z "$file" ]; then
    echo "with-secrets: $1 is not VAR=FILE" >&2
    exit 2
  fi
  if [ ! -s "$dir/$file" ]; then
    echo "with-secrets: $dir/$file is missing or empty (for $var)" >&2
    exit 1
  fi
  value=$(cat "$dir/$file")
  export "$var=$value"
  shift
done
if [ "$#" -lt 2 ]; then
  echo "usage: with-secrets.sh VAR=FILE... -- PROGRAM [ARG...]" >&2
  exit 2
fi
shift
exec "$@"
