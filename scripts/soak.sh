#!/usr/bin/env bash
# Runs N seeded protocol-simulation schedules on every core and prints the totals, e.g.
#   scripts/soak.sh 1000000            # seeds 1,000,001 .. 2,000,000, far from the ones CI runs
#   scripts/soak.sh 50000 7000001      # N schedules from a first seed of your choice
#   scripts/soak.sh 100000 1 ferry dangerous   # another profile: classic, dangerous or restart
# Each failing schedule prints its seed and the command that replays it alone. Exit status 1 if any
# schedule lost, duplicated or reordered a frame, or left a migration entry behind.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:?usage: scripts/soak.sh N [FIRST_SEED] [MODE] [PROFILE]}"
FIRST="${2:-1000001}"
MODE="${3:-ferry}"
PROFILE="${4:-classic}"
THREADS="$(nproc)"
echo "soak: $N schedules from seed $FIRST, mode $MODE, profile $PROFILE, on $THREADS cores ($(date -u +%FT%TZ))"
START=$(date +%s)
set +e
"$ROOT/ferry" sim --seed "$FIRST" --count "$N" --mode "$MODE" --profile "$PROFILE" --threads "$THREADS" --progress $(( N >= 100000 ? 100000 : N ))
STATUS=$?
set -e
echo "soak: $(( ($(date +%s) - START) / 60 )) min $(( ($(date +%s) - START) % 60 )) s on $THREADS cores, exit $STATUS"
exit $STATUS
