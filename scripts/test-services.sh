#!/usr/bin/env bash
# The Debian services the scale-out tests start themselves (tests/scale, benchmarks/bench_scale.py): redis-server
# and haproxy. Installs only what is missing, and only where apt-get can run as root (CI); elsewhere it says what to
# install and the tests that need the binary are skipped with that reason. Never starts a system service.
set -uo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-services: installing ${missing[*]} for the scale-out tests..." >&2
  # policy-rc.d 101: the packages' postinst must not start (or enable) system services; the tests run their own.
  policy=/usr/sbin/policy-rc.d
  created=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; } \
    || echo "test-services: could not install ${missing[*]}; the tests that need them are skipped" >&2
  [ "$created" = 1 ] && rm -f "$policy"
else
  echo "test-services: ${missing[*]} missing (apt-get install ${missing[*]} as root); the scale-out tests that need them are skipped" >&2
fi
exit 0
