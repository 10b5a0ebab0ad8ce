#!/usr/bin/env bash
# Runs Ferry's whole test suite: installs what the tests need (Debian packages, as root), finds a
# JDK 25, and runs Maven's verify. Extra arguments go to Maven (e.g. -Dferry.sim.schedules=10000).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
JAVA_HOME="$("$ROOT/scripts/find-jdk.sh")"
export JAVA_HOME
cd "$ROOT"
exec mvn -B -ntp verify "$@"
