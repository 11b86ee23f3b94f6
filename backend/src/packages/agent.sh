#!/bin/sh
# Installs berth-agent from the Berth server @SERVER_URL@ and joins it.
#
#   curl --pinnedpubkey 'sha256//…' -fsSL @SERVER_URL@/install/agent.sh | sh -s -- TOKEN [options]
#
# The server wrote this script for itself: its URL, its certificate's public
# key pin, the SHA-256 of each architecture's package and the repository's
# signing key are all below. Every download uses the same pin, so a
# man-in-the-middle gets nothing. Options after the token:
#   --advertise URL      the URL the server reaches this agent at
#                        (default: https://<this host's address toward the server>:7443)
#   --name NAME          the host's name in the dashboard (default: the hostname)
#   --download-only DIR  fetch and verify the package into DIR; change nothing
set -eu
umask 022

SERVER_URL=@SERVER_URL_Q@
SERVER_HOST=@SERVER_HOST_Q@
PIN=@PIN_Q@
# 1 when the server's certificate is self-signed: curl then skips the chain
# check (--insecure) and relies on the pin alone; apt trusts that one
# certificate for this host (CaInfo).
SELF_SIGNED=@SELF_SIGNED@
KEYRING=/usr/share/keyrings/berth-archive-keyring.gpg
SERVER_CERT=/etc/berth/server-cert.pem
SOURCES=/etc/apt/sources.list.d/berth.sources
APT_CONF=/etc/apt/apt.conf.d/60berth
CONF=/etc/berth/agent.toml

say() { printf 'berth: %s\n' "$*"; }
die() {
	printf 'berth: error: %s\n' "$*" >&2
	exit 1
}

fetch() {
	if [ "$SELF_SIGNED" = 1 ]; then
		curl --pinnedpubkey "$PIN" --insecure -fsSL "$@"
	else
		curl --pinnedpubkey "$PIN" -fsSL "$@"
	fi
}

# Everything runs from main, called on the last line: sh has read the whole
# script before it acts, so a download cut short runs nothing.
main() {
[ "$#" -ge 1 ] || die "usage: ... | sh -s -- <join token> [--advertise URL] [--name NAME] [--download-only DIR]"
token=$1
shift
case $token in
berthjoin1.*) ;;
*) die "the first argument must be a join token (berthjoin1.…) from Hosts → Join a host" ;;
esac
case $token in
*[!A-Za-z0-9._-]*) die "the join token has characters a token never has" ;;
esac
advertise=''
name=''
download_only=''
while [ "$#" -gt 0 ]; do
	[ "$#" -ge 2 ] || die "$1 needs a value"
	case $1 in
	--advertise) advertise=$2 ;;
	--name) name=$2 ;;
	--download-only) download_only=$2 ;;
	*) die "unknown option $1" ;;
	esac
	shift 2
done
case $advertise in
'') ;;
https://*[!]A-Za-z0-9.:/[-]*) die "--advertise: $advertise is not an https://host:port URL" ;;
https://?*) ;;
*) die "--advertise: $advertise is not an https://host:port URL" ;;
esac
case $name in
*[!A-Za-z0-9._-]*) die "--name: use letters, digits, '.', '_' and '-'" ;;
esac

if ! command -v dpkg >/dev/null 2>&1 || [ ! -r /etc/debian_version ]; then
	die "this script installs a Debian package: run it on Debian (or a derivative with dpkg and apt)"
fi
command -v curl >/dev/null 2>&1 || die "curl is missing"
arch=$(dpkg --print-architecture)
deb_path=''
deb_sha256=''
deb_version=''
case $arch in
@PACKAGE_CASES@
*) die "unsupported architecture $arch: Berth's agent is built for amd64 and arm64" ;;
esac
[ -n "$deb_path" ] ||
	die "the server has no berth-agent package for $arch: the admin puts berth-agent_*_$arch.deb in the server's packages_dir"

if [ -n "$download_only" ]; then
	out=$download_only
else
	[ "$(id -u)" = 0 ] || die "run this as root (… | sudo sh -s -- TOKEN)"
	command -v apt-get >/dev/null 2>&1 || die "apt-get is missing"
	command -v systemctl >/dev/null 2>&1 || die "systemd is needed: berth-agent runs as a systemd unit"
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
	# apt reads a local package as its sandbox user _apt.
	chmod 755 "$out"
fi
deb=$out/berth-agent_${deb_version}_$arch.deb
say "downloading berth-agent $deb_version ($arch) from $SERVER_URL"
if ! fetch -o "$deb" "$SERVER_URL/apt/$deb_path"; then
	rm -f "$deb"
	die "could not download $SERVER_URL/apt/$deb_path (curl refused the server or the file; see above)"
fi
got=$(sha256sum "$deb" | cut -d' ' -f1)
if [ "$got" != "$deb_sha256" ]; then
	rm -f "$deb"
	die "checksum mismatch for $deb_path: expected $deb_sha256, got $got; nothing was installed"
fi
say "verified SHA-256 $got"
if [ -n "$download_only" ]; then
	say "downloaded $deb (--download-only: nothing installed)"
	exit 0
fi

DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb" </dev/null
say "installed berth-agent $deb_version"

mkdir -p /usr/share/keyrings /etc/apt/sources.list.d /etc/apt/apt.conf.d /etc/berth
base64 -d >"$KEYRING.tmp" <<'BERTH_KEYRING'
@KEYRING_B64@
BERTH_KEYRING
chmod 644 "$KEYRING.tmp"
mv "$KEYRING.tmp" "$KEYRING"
say "installed the repository's signing key in $KEYRING (fingerprint @KEY_FINGERPRINT@)"
cat >"$SOURCES" <<'BERTH_SOURCES'
@SOURCES@
BERTH_SOURCES
say "added $SOURCES: apt-get upgrade now brings berth-agent to the server's version"
if [ "$SELF_SIGNED" = 1 ]; then
	cat >"$SERVER_CERT" <<'BERTH_CERT'
@SERVER_CERT@
BERTH_CERT
	chmod 644 "$SERVER_CERT"
	cat >"$APT_CONF" <<'BERTH_APT_CONF'
@APT_CONF@
BERTH_APT_CONF
	say "apt trusts only the server's own certificate for $SERVER_HOST ($APT_CONF)"
fi

[ -f "$CONF" ] || : >"$CONF"
chmod 600 "$CONF"
# set_key KEY VALUE: replaces KEY's line in agent.toml, or appends one.
set_key() {
	if grep -q "^[[:space:]]*$1[[:space:]]*=" "$CONF"; then
		sed -i "s|^[[:space:]]*$1[[:space:]]*=.*|$1 = \"$2\"|" "$CONF"
	else
		printf '%s = "%s"\n' "$1" "$2" >>"$CONF"
	fi
}
if [ -z "$advertise" ] && ! grep -q '^[[:space:]]*advertise[[:space:]]*=' "$CONF"; then
	case $SERVER_HOST in
	*[!0-9.]*) server_ip=$(getent ahostsv4 "$SERVER_HOST" | awk 'NR == 1 { print $1 }') ;;
	*) server_ip=$SERVER_HOST ;;
	esac
	src=''
	if [ -n "$server_ip" ]; then
		src=$(ip -o route get "$server_ip" 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
	fi
	if [ -n "$src" ]; then
		advertise=https://$src:7443
	else
		say "warning: could not tell this host's address toward $SERVER_HOST; pass --advertise https://ADDRESS:7443"
	fi
fi
[ -z "$advertise" ] || set_key advertise "$advertise"
[ -z "$name" ] || set_key name "$name"
set_key join_token "$token"
say "wrote the join token to $CONF (mode 0600)${advertise:+; the agent advertises $advertise}"
if [ -f /var/lib/berth-agent/join.json ]; then
	say "warning: this agent has joined a server already (/var/lib/berth-agent/join.json); the token is not used"
fi

systemctl enable berth-agent </dev/null >/dev/null 2>&1 || systemctl enable berth-agent </dev/null
systemctl restart berth-agent </dev/null
say "started berth-agent.service"
i=0
while [ "$i" -lt 30 ] && [ ! -f /var/lib/berth-agent/join.json ]; do
	sleep 1
	i=$((i + 1))
done
if [ -f /var/lib/berth-agent/join.json ]; then
	say "joined $SERVER_URL: the host is in the dashboard"
else
	say "not joined yet; see journalctl -u berth-agent"
fi
}

main "$@"
