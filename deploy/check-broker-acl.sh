#!/usr/bin/env bash
# Checks deploy/mosquitto (mosquitto.conf, acl, entrypoint.sh) against a throwaway
# local Mosquitto on a free loopback port:
#   a. anonymous clients and wrong passwords are refused;
#   b. a device publishes to its own telemetry topic and the ecowarn user receives
#      it, on a plain and on a shared ($share/ecowarn/...) subscription;
#   c. a device publishing to another device's topic is not delivered;
#   d. a device cannot read telemetry (its subscription gets nothing);
#   e. the ecowarn user can read $SYS (the container health check relies on it).
# Needs mosquitto and mosquitto-clients (Debian: apt-get install mosquitto
# mosquitto-clients). Exit status 0 when every check passes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
conf_src="$here/mosquitto/mosquitto.conf"
acl_src="$here/mosquitto/acl"
entrypoint="$here/mosquitto/entrypoint.sh"

log() { printf 'check-broker-acl: %s\n' "$*"; }

find_bin() {
    local p
    if p="$(command -v "$1" 2>/dev/null)"; then
        printf '%s\n' "$p"
    elif [ -x "/usr/sbin/$1" ]; then
        printf '%s\n' "/usr/sbin/$1"
    else
        return 1
    fi
}

for tool in mosquitto mosquitto_passwd mosquitto_pub mosquitto_sub; do
    if ! find_bin "$tool" >/dev/null; then
        log "$tool not found (Debian: apt-get install mosquitto mosquitto-clients)" >&2
        exit 2
    fi
done
MOSQUITTO="$(find_bin mosquitto)"
PUB="$(find_bin mosquitto_pub)"
SUB="$(find_bin mosquitto_sub)"
# entrypoint.sh calls mosquitto_passwd by name.
PATH="$PATH:$(dirname "$(find_bin mosquitto_passwd)")"
export PATH

tmp="$(mktemp -d "${TMPDIR:-/tmp}/check-broker-acl.XXXXXX")"
# The broker may drop privileges to the `mosquitto` user: it must reach its files.
chmod 0755 "$tmp"
broker_pid=""
sub_pids=()

cleanup() {
    local pid
    for pid in "${sub_pids[@]}" $broker_pid; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${sub_pids[@]}" $broker_pid; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=0
fail() {
    log "FAIL: $*" >&2
    failures=$((failures + 1))
}
ok() { log "ok: $*"; }

random_secret() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        # A refused connection means nothing listens there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return
        fi
    done
    return 1
}

# --- Credentials and files, produced by the real entrypoint --------------------
ecowarn_pw="$(random_secret)"
dev1="13010500000001"      # a CEMS data logger (HJ 212 MN)
dev1_pw="$(random_secret)"
dev2="PWR-KILN-1"          # a power sub-meter
dev2_pw="$(random_secret)"

env -u MQTT_DEVICE_CREDENTIALS_FILE -u MQTT_ECOWARN_PASSWORD_FILE \
    MOSQUITTO_AUTH_DIR="$tmp/auth" \
    MOSQUITTO_ACL_SRC="$acl_src" \
    MQTT_ECOWARN_PASSWORD="$ecowarn_pw" \
    MQTT_DEVICE_CREDENTIALS="$dev1:$dev1_pw $dev2:$dev2_pw" \
    sh "$entrypoint" true

mkdir -p "$tmp/data"
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto:mosquitto "$tmp/data"
fi

# --- Broker ---------------------------------------------------------------------
start_broker() {
    port="$(free_port)"
    sed -e "s|^listener 1883\$|listener $port 127.0.0.1|" \
        -e "s|/mosquitto/auth/|$tmp/auth/|g" \
        -e "s|/mosquitto/data/|$tmp/data/|g" \
        "$conf_src" >"$tmp/mosquitto.conf"
    if ! grep -q "^listener $port 127.0.0.1\$" "$tmp/mosquitto.conf" \
        || grep -v '^[[:space:]]*#' "$tmp/mosquitto.conf" | grep -q '/mosquitto/'; then
        log "cannot adapt $conf_src (expected 'listener 1883' and /mosquitto/{auth,data}/ paths)" >&2
        exit 1
    fi
    "$MOSQUITTO" -c "$tmp/mosquitto.conf" >"$tmp/broker.log" 2>&1 &
    broker_pid=$!
    local _
    for _ in $(seq 1 100); do
        if ! kill -0 "$broker_pid" 2>/dev/null; then
            wait "$broker_pid" 2>/dev/null || true
            broker_pid=""
            return 1
        fi
        if timeout 5 "$PUB" -h 127.0.0.1 -p "$port" -u ecowarn -P "$ecowarn_pw" \
            -i check-ready -q 1 -t warnings/check -m ready 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=""
    return 1
}

started=0
for _ in 1 2 3; do
    if start_broker; then
        started=1
        break
    fi
done
if [ "$started" != 1 ]; then
    log "the broker did not start; its log:" >&2
    cat "$tmp/broker.log" >&2 || true
    exit 1
fi
ok "broker started with the shipped mosquitto.conf on 127.0.0.1:$port"

# pub USER PASSWORD TOPIC PAYLOAD [extra mosquitto_pub args]
pub() {
    local user="$1" pw="$2" topic="$3" payload="$4"
    shift 4
    timeout 10 "$PUB" -h 127.0.0.1 -p "$port" -u "$user" -P "$pw" -q 1 \
        -t "$topic" -m "$payload" "$@"
}

# sub NAME USER PASSWORD TOPIC: background subscriber printing "topic payload" lines.
sub() {
    local name="$1" user="$2" pw="$3" topic="$4"
    "$SUB" -h 127.0.0.1 -p "$port" -u "$user" -P "$pw" -q 1 -v \
        -i "check-$name" -t "$topic" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    sub_pids+=("$!")
}

# wait_for FILE TEXT [SECONDS]
wait_for() {
    local file="$1" text="$2" tries=$((${3:-5} * 10))
    while [ "$tries" -gt 0 ]; do
        if grep -qF -- "$text" "$file" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
        tries=$((tries - 1))
    done
    return 1
}

# --- (a) anonymous and wrong passwords are refused ------------------------------
if timeout 10 "$PUB" -h 127.0.0.1 -p "$port" -q 1 -t "telemetry/power/$dev2" -m anonymous \
    2>/dev/null; then
    fail "an anonymous client could connect and publish"
else
    ok "anonymous client refused"
fi
if pub "$dev2" wrong-password "telemetry/power/$dev2" wrong-password 2>/dev/null; then
    fail "a device with a wrong password could connect and publish"
else
    ok "wrong password refused"
fi

# --- subscribers ------------------------------------------------------------------
sub device "$dev1" "$dev1_pw" 'telemetry/#'
sub plain ecowarn "$ecowarn_pw" 'telemetry/#'
# shellcheck disable=SC2016  # a literal MQTT topic filter, not a shell expansion
sub shared ecowarn "$ecowarn_pw" '$share/ecowarn/telemetry/+/+'

# Wait until both ecowarn subscriptions are live: publish probes until each sees one.
ready=0
for i in $(seq 1 50); do
    pub "$dev2" "$dev2_pw" "telemetry/power/$dev2" "probe-$i" >/dev/null 2>&1 || true
    if grep -q 'probe-' "$tmp/plain.out" 2>/dev/null \
        && grep -q 'probe-' "$tmp/shared.out" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.1
done
if [ "$ready" != 1 ]; then
    fail "the ecowarn subscriptions never received a device's publication"
    cat "$tmp/plain.err" "$tmp/shared.err" "$tmp/broker.log" >&2 || true
    exit 1
fi

# --- (b) own topic is delivered to ecowarn -------------------------------------------
own="own-topic-$(random_secret)"
pub "$dev2" "$dev2_pw" "telemetry/power/$dev2" "$own" || fail "device $dev2 could not publish"
if wait_for "$tmp/plain.out" "telemetry/power/$dev2 $own"; then
    ok "device $dev2 -> telemetry/power/$dev2 delivered to ecowarn (telemetry/#)"
else
    fail "device $dev2's own-topic message not delivered on telemetry/#"
fi
if wait_for "$tmp/shared.out" "telemetry/power/$dev2 $own"; then
    ok "device $dev2 -> telemetry/power/$dev2 delivered to ecowarn (\$share/ecowarn/telemetry/+/+)"
else
    fail "device $dev2's own-topic message not delivered on the shared subscription"
fi

# --- (c) another device's topic is not delivered ------------------------------------
foreign="foreign-topic-$(random_secret)"
pub "$dev2" "$dev2_pw" "telemetry/cems/$dev1" "$foreign" >/dev/null 2>&1 || true
pub "$dev2" "$dev2_pw" "telemetry/power/$dev1/extra" "$foreign" >/dev/null 2>&1 || true
pub "$dev2" "$dev2_pw" "warnings/$dev2" "$foreign" >/dev/null 2>&1 || true
# A later message from the rightful owner: once it has arrived, anything published
# before it would have arrived too.
sentinel="sentinel-$(random_secret)"
pub "$dev1" "$dev1_pw" "telemetry/cems/$dev1" "$sentinel" || fail "device $dev1 could not publish"
if wait_for "$tmp/plain.out" "$sentinel" && wait_for "$tmp/shared.out" "$sentinel"; then
    if grep -qF -- "$foreign" "$tmp/plain.out" "$tmp/shared.out"; then
        fail "device $dev2's message to another device's topic was delivered"
    else
        ok "device $dev2 -> telemetry/cems/$dev1 not delivered"
    fi
else
    fail "device $dev1's own-topic message not delivered"
fi

# --- (d) a device reads nothing ---------------------------------------------------------
if [ -s "$tmp/device.out" ]; then
    fail "device $dev1 received telemetry: $(head -n 3 "$tmp/device.out")"
else
    ok "device $dev1 subscribed to telemetry/# and received nothing"
fi

# --- (e) ecowarn reads $SYS (health check) -------------------------------------------
# shellcheck disable=SC2016  # '$SYS/...' is a literal MQTT topic
if sys_out="$(timeout 15 "$SUB" -h 127.0.0.1 -p "$port" -u ecowarn -P "$ecowarn_pw" \
    -i check-sys -t '$SYS/broker/version' -C 1 -W 10 2>&1)" && [ -n "$sys_out" ]; then
    ok "ecowarn reads \$SYS/broker/version ($sys_out)"
else
    fail "ecowarn cannot read \$SYS/broker/version: $sys_out"
fi

if [ "$failures" -ne 0 ]; then
    log "$failures check(s) failed; broker log:" >&2
    cat "$tmp/broker.log" >&2 || true
    exit 1
fi
log "all broker checks passed"
