#!/usr/bin/env bash
# Runs Ferry's whole test suite: installs what the tests need (Debian packages, as root), finds a
# JDK 25, runs Maven's verify (fuzz targets replay their saved inputs there), tests the Debian
# package (scripts/test-package.sh), then fuzzes every target for a short budget. Extra arguments go
# to Maven (e.g. -Dferry.sim.schedules=10000).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
JAVA_HOME="$("$ROOT/scripts/find-jdk.sh")"
export JAVA_HOME
cd "$ROOT"
mvn -B -ntp verify "$@"
# The host install: the Debian package built, installed into a root of its own, its units verified.
scripts/test-package.sh
# A short fuzzing budget per target (scripts/fuzz.sh runs a long one): new code meets hostile input here first.
scripts/fuzz.sh "${FERRY_FUZZ_RUNS:-50000}" "${FERRY_FUZZ_SECONDS:-20}"
