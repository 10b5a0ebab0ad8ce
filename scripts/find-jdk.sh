#!/usr/bin/env bash
# Prints the home of a JDK 25 or newer: $JAVA_HOME if it is one, else the newest under /usr/lib/jvm.
# Sourced or run; exits 2 with the places it looked when there is none.
set -euo pipefail
jdk_feature() {  # JDK_HOME -> feature version (25), or nothing
  local rel="$1/release"
  [[ -x "$1/bin/java" && -x "$1/bin/javac" && -f "$rel" ]] || return 0
  sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$rel"
}
candidates=()
[[ -n "${JAVA_HOME:-}" ]] && candidates+=("$JAVA_HOME")
for d in /usr/lib/jvm/*; do [[ -d "$d" ]] && candidates+=("$d"); done
best="" best_v=0
for c in "${candidates[@]}"; do
  v=$(jdk_feature "$c")
  if [[ -n "$v" && "$v" -ge 25 && ( "$c" == "${JAVA_HOME:-}" || "$v" -gt "$best_v" ) ]]; then
    best="$c"; best_v="$v"
    [[ "$c" == "${JAVA_HOME:-}" ]] && break
  fi
done
if [[ -z "$best" ]]; then
  echo "ferry: no JDK 25 found (looked at JAVA_HOME=${JAVA_HOME:-<unset>} and /usr/lib/jvm/*)." >&2
  echo "ferry: install one (e.g. Temurin 25 into /usr/lib/jvm) or set JAVA_HOME to it." >&2
  exit 2
fi
echo "$best"
