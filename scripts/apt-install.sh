#!/usr/bin/env bash
# `scripts/apt-install.sh <who> <package>…`: installs Debian packages (with sudo unless root),
# announcing them on stderr as `<who>: installing …`. Nothing happens without packages.
set -euo pipefail
who=$1
shift
[ $# -gt 0 ] || exit 0
echo "$who: installing $*" >&2
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
$sudo_cmd apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >&2
