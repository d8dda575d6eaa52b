#!/usr/bin/env bash
# Make PostgreSQL's server programs (initdb, pg_ctl, postgres) available for tests/tune, which
# start a throw-away server on a free loopback port to host a study shared by several workers.
# Installs Debian's `postgresql` package when they are missing; never starts a system cluster.
# Without root or without the package registry it only warns: those tests then skip, saying why.
set -uo pipefail

have_postgres() {
    command -v initdb >/dev/null 2>&1 && return 0
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if have_postgres; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo ".ci/postgres.sh: PostgreSQL is not installed and this is not root: skipping" \
         "(tests that need a PostgreSQL server will be skipped)" >&2
    exit 0
fi
echo ".ci/postgres.sh: installing Debian's postgresql package" >&2
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d keeps the package from starting its own cluster service during the install
had_policy=0
[ -e /usr/sbin/policy-rc.d ] && had_policy=1
if [ "$had_policy" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
fi
status=0
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null; } \
    || status=$?
[ "$had_policy" -eq 0 ] && rm -f /usr/sbin/policy-rc.d
if [ "$status" -ne 0 ] || ! have_postgres; then
    echo ".ci/postgres.sh: could not install postgresql (exit $status):" \
         "tests that need a PostgreSQL server will be skipped" >&2
fi
exit 0
