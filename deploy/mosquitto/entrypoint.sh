#!/bin/sh
# Entrypoint of the ecowarn Mosquitto container.
#
# Hashed password files cannot be prepared ahead of time, so this script builds
# the broker's password file at every start from plain values, copies the ACL
# next to it with private permissions, then runs the broker.
#
# Inputs (environment):
#   MQTT_ECOWARN_PASSWORD        password of the `ecowarn` service user (required),
#   MQTT_ECOWARN_PASSWORD_FILE   or a file holding it (e.g. /run/secrets/...).
#   MQTT_DEVICE_CREDENTIALS      device users, whitespace separated DEVICE_ID:PASSWORD
#                                pairs (the device id is the MQTT user name).
#   MQTT_DEVICE_CREDENTIALS_FILE a file with one DEVICE_ID:PASSWORD per line; blank
#                                lines and lines starting with # are ignored.
#   MOSQUITTO_AUTH_DIR           where passwd and acl are written (/mosquitto/auth).
#   MOSQUITTO_ACL_SRC            ACL to install (/mosquitto/config/acl).
#
# Arguments: the command to exec (default: mosquitto -c /mosquitto/config/mosquitto.conf).
set -eu

AUTH_DIR="${MOSQUITTO_AUTH_DIR:-/mosquitto/auth}"
ACL_SRC="${MOSQUITTO_ACL_SRC:-/mosquitto/config/acl}"
SERVICE_USER=ecowarn

die() {
    echo "entrypoint: $*" >&2
    exit 1
}

ecowarn_password="${MQTT_ECOWARN_PASSWORD:-}"
if [ -z "$ecowarn_password" ] && [ -n "${MQTT_ECOWARN_PASSWORD_FILE:-}" ]; then
    [ -r "$MQTT_ECOWARN_PASSWORD_FILE" ] || die "cannot read MQTT_ECOWARN_PASSWORD_FILE=$MQTT_ECOWARN_PASSWORD_FILE"
    ecowarn_password="$(head -n 1 "$MQTT_ECOWARN_PASSWORD_FILE" | tr -d '\r\n')"
fi
[ -n "$ecowarn_password" ] || die "MQTT_ECOWARN_PASSWORD (or MQTT_ECOWARN_PASSWORD_FILE) is required"
[ -r "$ACL_SRC" ] || die "cannot read the ACL file $ACL_SRC"

umask 077
mkdir -p "$AUTH_DIR"
passwd_new="$AUTH_DIR/passwd.new"
rm -f "$passwd_new"
mosquitto_passwd -b -c "$passwd_new" "$SERVICE_USER" "$ecowarn_password" \
    || die "mosquitto_passwd failed for user $SERVICE_USER"

device_count=0
# add_device ENTRY: ENTRY is DEVICE_ID:PASSWORD (the password may contain ':').
add_device() {
    entry="$1"
    case "$entry" in
        *:*) ;;
        *) die "a device credential has no ':' (expected DEVICE_ID:PASSWORD)" ;;
    esac
    user="${entry%%:*}"
    password="${entry#*:}"
    [ -n "$user" ] || die "device credential with an empty device id"
    [ -n "$password" ] || die "device $user has an empty password"
    case "$user" in
        *[/+#\ ]*|*"	"*) die "device id '$user' contains '/', '+', '#' or whitespace" ;;
    esac
    [ "$user" != "$SERVICE_USER" ] || die "a device may not use the service user name '$SERVICE_USER'"
    mosquitto_passwd -b "$passwd_new" "$user" "$password" \
        || die "mosquitto_passwd failed for device $user"
    device_count=$((device_count + 1))
}

if [ -n "${MQTT_DEVICE_CREDENTIALS:-}" ]; then
    set -f  # split on whitespace only: no globbing of passwords containing '*'
    for entry in $MQTT_DEVICE_CREDENTIALS; do
        add_device "$entry"
    done
    set +f
fi
if [ -n "${MQTT_DEVICE_CREDENTIALS_FILE:-}" ]; then
    [ -r "$MQTT_DEVICE_CREDENTIALS_FILE" ] || die "cannot read MQTT_DEVICE_CREDENTIALS_FILE=$MQTT_DEVICE_CREDENTIALS_FILE"
    while IFS= read -r line || [ -n "$line" ]; do
        line="$(printf '%s' "$line" | tr -d '\r')"
        case "$line" in
            ''|'#'*) continue ;;
        esac
        add_device "$line"
    done < "$MQTT_DEVICE_CREDENTIALS_FILE"
fi

mv -f "$passwd_new" "$AUTH_DIR/passwd"
cp "$ACL_SRC" "$AUTH_DIR/acl.new"
mv -f "$AUTH_DIR/acl.new" "$AUTH_DIR/acl"
chmod 0700 "$AUTH_DIR"
chmod 0600 "$AUTH_DIR/passwd" "$AUTH_DIR/acl"

# Started as root, the broker drops to the `mosquitto` user: hand it its files.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown -R mosquitto:mosquitto "$AUTH_DIR"
    for dir in /mosquitto/data /mosquitto/log; do
        if [ -d "$dir" ]; then chown -R mosquitto:mosquitto "$dir" || true; fi
    done
fi

echo "entrypoint: broker users: $SERVICE_USER and $device_count device(s)"

if [ "$#" -eq 0 ]; then
    set -- mosquitto -c /mosquitto/config/mosquitto.conf
fi
exec "$@"
