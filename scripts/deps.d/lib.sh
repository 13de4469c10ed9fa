# Helpers for scripts/deps.d/*.sh (sourced, not run).
# apt_install PKG...: installs the packages not yet installed; runs `apt-get update` once per run.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  if [ ! -e /tmp/.oauthmail-apt-updated ]; then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && touch /tmp/.oauthmail-apt-updated
  fi
  echo "[deps] apt-get install ${missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
