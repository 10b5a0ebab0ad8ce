#!/usr/bin/env bash
# The host install, tested as an operator meets it: builds the Debian package (scripts/package.sh),
# installs it with dpkg into a fresh root of its own (own dpkg database; systemd's units copied
# beside Ferry's, as in a container image), then checks what the package promises: `ferry --version`
# on the package's own Java runtime, the ferry user, `systemd-analyze verify` on both units (and that
# verify does fail a broken unit), bash completion, man pages, libvirt's hook, and a board and agent
# run from the installed files, the hook plugging the example domain's port into that agent.
# Run by scripts/test.sh after Maven's tests; needs root (dpkg --root writes the ferry user).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $(id -u) -ne 0 ]]; then
  echo "test-package: needs root (dpkg installs into the test's root as root)" >&2
  exit 2
fi
R="$(mktemp -d /tmp/ferry-package.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$R"
}
trap cleanup EXIT
fail() {
  echo "test-package: FAIL: $*" >&2
  exit 1
}
pass() {
  echo "test-package: ok: $*"
}
await() { # await FILE TEXT SECONDS: until FILE has a line with TEXT
  local deadline=$((SECONDS + $3))
  until grep -q "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "no '$2' in $1 within $3 s: $(cat "$1")"
    sleep 0.2
  done
}

deb="$(bash "$ROOT/scripts/package.sh" 2>/dev/null | tail -n 1)"
[[ -f "$deb" ]] || fail "scripts/package.sh made no package"
pass "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"

mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/run"
touch "$R/var/lib/dpkg/status"
# --force-depends: the test's root holds no libc6 package (the host's C library serves), only Ferry.
dpkg --root="$R" --force-script-chrootless --force-depends --log=/dev/null -i "$deb" > "$R/dpkg.log" 2>&1 \
  || fail "dpkg -i: $(cat "$R/dpkg.log")"
dpkg --root="$R" -s ferry | grep -q '^Status: install ok installed' || fail "dpkg does not list ferry as installed"
pass "installed into $R"

F="$R/usr/bin/ferry"
version="$("$F" --version 2>/dev/null)"
[[ "$version" == "ferry "[0-9]* ]] || fail "ferry --version said: $version"
[[ "$version" == *"($R/usr/lib/ferry/runtime)"* ]] || fail "ferry --version runs another Java: $version"
pass "ferry --version: $(echo "$version" | tr '\n' ' ')"

grep -q '^ferry:' "$R/etc/passwd" || fail "no ferry user in the root's /etc/passwd"
pass "ferry user made by postinst"

cp -an /lib/systemd/system/. "$R/lib/systemd/system/"
MANPATH="$R/usr/share/man" systemd-analyze verify --root="$R" ferry-board.service ferry-agent.service > "$R/verify.log" 2>&1 \
  || fail "systemd-analyze verify: $(cat "$R/verify.log")"
pass "systemd-analyze verify ferry-board.service ferry-agent.service"
sed 's|^ExecStart=/usr/bin/ferry|ExecStart=/usr/bin/ferry-not-there|' "$R/lib/systemd/system/ferry-board.service" \
  > "$R/lib/systemd/system/ferry-broken.service"
if MANPATH="$R/usr/share/man" systemd-analyze verify --root="$R" ferry-broken.service > /dev/null 2>&1; then
  fail "systemd-analyze verify passed a unit whose ExecStart does not exist: the check above proves nothing"
fi
rm "$R/lib/systemd/system/ferry-broken.service"
pass "systemd-analyze verify fails a unit with a missing ExecStart"

offered="$(bash -c "source '$R/usr/share/bash-completion/completions/ferry'; COMP_WORDS=(ferry li); COMP_CWORD=1; COMP_LINE='ferry li';
  COMP_POINT=8; \$(complete -p ferry | sed -E 's/.*-F ([^ ]+).*/\1/') ferry li ferry; echo \"\${COMPREPLY[*]}\"")"
[[ "$offered" == *libvirt* ]] || fail "bash completion of 'ferry li' offered '$offered'"
pass "bash completion: 'ferry li<TAB>' offers $offered"

for page in ferry ferry-board ferry-agent ferry-ctl ferry-libvirt ferry-pki; do
  zcat "$R/usr/share/man/man1/$page.1.gz" | grep -q "^\.TH \"*${page^^}" || fail "man page $page.1 missing or not a man page"
done
pass "man pages ferry(1), ferry-board(1), ferry-agent(1), ferry-ctl(1), ferry-libvirt(1), ferry-pki(1)"

HOOK="$R/etc/libvirt/hooks/qemu.d/ferry"
[[ -x "$HOOK" ]] || fail "libvirt's hook is not installed executable"
said="$(echo "<domain><name>plain</name></domain>" | "$HOOK" plain prepare begin - 2>&1)" \
  || fail "the hook refused a domain without Ferry's metadata: $said"
[[ -z "$said" ]] || fail "the hook said something about a domain without Ferry's metadata: $said"
EXAMPLE="$R/usr/share/doc/ferry/examples/web1.xml"
if said="$(FERRY_AGENT="$R/run/no-agent.sock" "$HOOK" web1 prepare begin - < "$EXAMPLE" 2>&1)"; then
  fail "the hook let web1 start with no agent to plug it into"
fi
[[ "$said" == *"is unreachable (is ferry-agent running?)"* ]] || fail "the hook's refusal did not say why: $said"
pass "libvirt hook: ignores plain domains, refuses to start a Ferry domain without an agent"

# The installed runtime serves: a board (SQLite table), an agent, and the hook plugging the example domain.
"$F" board --listen 127.0.0.1:0 --data "$R/var/lib/ferry/board" --insecure > "$R/board.log" 2>&1 &
pids+=($!)
await "$R/board.log" "board listening on " 60
board="$(sed -n 's/^board listening on \([^ ]*\).*/\1/p' "$R/board.log")"
"$F" agent --host-id 1 --listen 127.0.0.1:0 --board "$board" --vni 100 --admin "$R/run/agent.sock" --insecure \
  --plaintext-underlay > "$R/agent.log" 2>&1 &
pids+=($!)
await "$R/agent.log" "agent 1 up" 60
FERRY_AGENT="$R/run/agent.sock" "$HOOK" web1 prepare begin - < "$EXAMPLE" > "$R/hook.out" 2> "$R/hook.log" \
  || fail "the hook could not plug web1: $(cat "$R/hook.log")"
[[ ! -s "$R/hook.out" ]] || fail "the hook wrote to standard output, which libvirt takes as a new domain XML: $(cat "$R/hook.out")"
grep -q "ferry: domain web1: plugged web1" "$R/hook.log" || fail "the hook did not say what it plugged: $(cat "$R/hook.log")"
"$F" ctl --agent "$R/run/agent.sock" ports 2>/dev/null | grep -q '^web1 .*vhost-user' \
  || fail "web1 is not plugged: $("$F" ctl --agent "$R/run/agent.sock" ports 2>&1)"
FERRY_AGENT="$R/run/agent.sock" "$HOOK" web1 release end - < "$EXAMPLE" 2>> "$R/hook.log"
if "$F" ctl --agent "$R/run/agent.sock" ports 2>/dev/null | grep -q '^web1 '; then fail "web1 still plugged after release"; fi
pass "installed board ($board, SQLite) and agent run; the hook plugs web1 at prepare and unplugs it at release"

dpkg --root="$R" --force-script-chrootless --log=/dev/null --purge ferry > "$R/dpkg.log" 2>&1 || fail "dpkg --purge: $(cat "$R/dpkg.log")"
[[ ! -e "$R/usr/bin/ferry" && ! -e "$R/etc/ferry/agent.yaml" ]] || fail "dpkg --purge left Ferry's files"
pass "dpkg --purge removes Ferry's files and configuration"
echo "test-package: all checks passed"
