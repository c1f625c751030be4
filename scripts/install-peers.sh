#!/usr/bin/env bash
# Installs the real peers the integration tests run against: the CNCF registry
# (Debian package docker-registry), skopeo, and the containers tools podman, buildah and umoci
# (the tests use vfs storage and run no container), chromium for the web view's browser test,
# plus curl, openssl and GNU time for the bench. Idempotent: does nothing when all are there. Makes sure no system service of the
# package is left holding port 5000.
set -euo pipefail

need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v umoci >/dev/null 2>&1 || need+=(umoci)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
# GNU time: the bench reads peak RSS from `/usr/bin/time -v` (bash's `time` keyword has none).
[ -x /usr/bin/time ] || need+=(time)
# Headless Chromium for the web view's browser test (test/peers/serve-ui.test.ts, puppeteer-core).
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-peers: missing ${need[*]} and not root; install them with apt-get" >&2
    exit 1
  fi
  echo "install-peers: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d 101 keeps the package's service from starting during the install.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

# A registry service left running by the package would hold :5000.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
  systemctl disable docker-registry 2>/dev/null || true
fi
if command -v pkill >/dev/null 2>&1; then
  pkill -f '^/usr/bin/docker-registry serve /etc/docker/registry/config.yml' 2>/dev/null || true
fi
echo "install-peers: $(docker-registry --version 2>&1 | head -1); $(skopeo --version); $(podman --version); $(buildah --version | cut -d"(" -f1); $(umoci --version); $(/usr/bin/chromium --version 2>/dev/null | head -1)"
