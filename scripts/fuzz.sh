#!/usr/bin/env bash
# Coverage-guided fuzzing (Jazzer) of every decoder a stranger reaches, one target after another:
#   scripts/fuzz.sh                  # 1,000,000 executions per target (or 30 min each at most)
#   scripts/fuzz.sh 20000 60         # RUNS per target, at most SECONDS each (what CI runs: a short budget)
#   scripts/fuzz.sh 0 3600 geneve    # only the targets whose name contains "geneve", an hour each
# Each target's corpus grows in MODULE/.cifuzz-corpus; a finding is written under
# MODULE/src/test/resources/.../<Test>Inputs/<target>/, where `mvn test` replays it from then on
# (commit it with the fix). Prints one line per target; exit status 1 if any target found anything.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-1000000}"
SECONDS_EACH="${2:-1800}"
ONLY="${3:-}"
JAVA_HOME="${JAVA_HOME:-$("$ROOT/scripts/find-jdk.sh")}"
export JAVA_HOME
TARGETS=(
  "ferry-wire WireFuzzTest#geneve"
  "ferry-wire WireFuzzTest#control"
  "ferry-wire WireFuzzTest#arp"
  "ferry-wire WireFuzzTest#offload"
  "ferry-agent AgentFuzzTest#underlayDatagram"
  "ferry-agent AgentFuzzTest#guestFrame"
  "ferry-agent VirtqueueFuzzTest#hostileRings"
  "ferry-agent VhostUserMessageFuzzTest#frontEndMessages"
  "ferry-agent SealFuzzTest#openAnything"
  "ferry-service ServiceFuzzTest#qmpLine"
  "ferry-service ServiceFuzzTest#adminPortRequest"
  "ferry-service ServiceFuzzTest#libvirtDomain"
  "ferry-service ServiceFuzzTest#agentYaml"
)
LOG="$(mktemp -d)"
trap 'rm -rf "$LOG"' EXIT
failed=0
printf '%-45s %14s %8s  %s\n' target executions seconds result
for t in "${TARGETS[@]}"; do
  read -r module test <<<"$t"
  [[ -n "$ONLY" && "$test" != *"$ONLY"* ]] && continue
  out="$LOG/${test//[#]/_}.log"
  args=(-Djazzer.internal.arg.0=fuzz -Djazzer.internal.arg.1=-max_total_time="$SECONDS_EACH" -Djazzer.internal.arg.2=-timeout=10)
  (( RUNS > 0 )) && args+=(-Djazzer.internal.arg.3=-runs="$RUNS")
  set +e
  (cd "$ROOT" && JAZZER_FUZZ=1 mvn -B -ntp test -pl "$module" -am -Dtest="$test" -Dsurefire.failIfNoSpecifiedTests=false \
      "${args[@]}" >"$out" 2>&1)
  status=$?
  set -e
  done_line="$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$out" | tail -1)"
  runs="$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+).*/\1/' <<<"$done_line")"
  secs="$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+).*/\2/' <<<"$done_line")"
  if (( status == 0 )) && [[ -n "$done_line" ]]; then
    result="ok, nothing found"
  else
    failed=1
    result="FAILED: $(grep -m1 -E 'FuzzTestFinding|Caused by|ERROR\]' "$out" | cut -c1-160)"
    cp "$out" "$ROOT/fuzz-${test//[#]/_}.log"
    result+=" (log: fuzz-${test//[#]/_}.log)"
  fi
  printf '%-45s %14s %8s  %s\n' "$test" "${runs:-?}" "${secs:-?}" "$result"
done
exit $failed
