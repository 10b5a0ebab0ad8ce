#!/usr/bin/env bash
# JMH benchmark of the agent's receive and send paths with their anchor, with the GC profiler
# (gc.alloc.rate.norm: bytes allocated per frame). Extra arguments go to JMH (e.g. -f 3 -i 10).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAVA_HOME="$("$ROOT/scripts/find-jdk.sh")"
export JAVA_HOME
(cd "$ROOT" && mvn -q -B -DskipTests install)
exec "$JAVA_HOME/bin/java" -jar "$ROOT/ferry-bench/target/benchmarks.jar" PacketPathBenchmark -prof gc "$@"
