#!/usr/bin/env bash
# Validates the deployment files without a container engine:
#   1. docker-compose.yml parses and interpolates (`docker-compose config -q`);
#   2. the Mosquitto config, ACL and entrypoint work against a local broker
#      (deploy/check-broker-acl.sh).
# Installs docker-compose, mosquitto and mosquitto-clients from the Debian
# archive when they are missing (needs root for that).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    missing+=(mosquitto)
fi
if ! command -v mosquitto_pub >/dev/null 2>&1 || ! command -v mosquitto_sub >/dev/null 2>&1; then
    missing+=(mosquitto-clients)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "compose-check: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
        exit 2
    fi
    echo "compose-check: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "compose-check: docker-compose -f docker-compose.yml config -q"
docker-compose -f docker-compose.yml config -q

echo "compose-check: deploy/check-broker-acl.sh"
bash deploy/check-broker-acl.sh

echo "compose-check: ok"
