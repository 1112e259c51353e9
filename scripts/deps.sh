# Sourced by the demo and test scripts: installs the Debian packages named
# in "$@" that are missing (as root with apt-get, as the README promises on
# a fresh Debian 12 machine); otherwise says what is missing and stops.
xr_install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    return 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

XR_BUILD_PACKAGES=(cmake make gcc pkg-config libcjson-dev libcurl4-openssl-dev)
