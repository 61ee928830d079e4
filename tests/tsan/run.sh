#!/usr/bin/env bash
# weft as its users run it under ThreadSanitizer: tests/tsan/user.c built with
# clang -fsanitize=thread against an installed-style libweft.so.
#
#   run.sh PLAIN_BUILD [TSAN_BUILD]
#
# Against the plain library (PLAIN_BUILD, a build dir without sanitizer): every
# correct scenario runs with zero reports; the races are reported; the lock-order
# inversions (inversion*: locks, rwlocks) are reported with detect_deadlocks=1.
# Against TSAN_BUILD (weft itself built with -Db_sanitize=thread): the race between
# two weft threads is reported in at least RACE_MIN of RACE_RUNS runs, and the
# inversions are reported. Prints one
# line per check and "run.sh: N passed, M failed"; exits non-zero on a failure.
# Also against PLAIN_BUILD: the scenarios in PLAIN_ATOMICS, built with
# WEFT_TSAN_NO_MUTEX (see check_plain_atomics), with zero reports.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
RACE_RUNS=${RACE_RUNS:-20}
RACE_MIN=${RACE_MIN:-19}
passed=0
failed=0
ok() { echo "ok    $*"; passed=$((passed + 1)); }
bad() { echo "FAIL  $*"; failed=$((failed + 1)); }

# Builds the program against build dir $1 into $2 (extra compiler flags in $3).
build() {
  local lib
  lib=$(cd "$1/src" && pwd)
  # The headers, and weft/version.h as the build generated it.
  clang -std=c11 -g -O1 -fsanitize=thread -D_GNU_SOURCE -Wall -Wextra -Werror ${3:-} \
    -I"$root/include" -I"$1/include" "$here/user.c" -o "$2" -L"$lib" -lweft -Wl,-rpath,"$lib" -lpthread
}

# Runs scenario $2 of program $1 (extra TSAN_OPTIONS in $3); sets `reports` to the
# number of TSan reports and `rc` to the exit status. Output goes to $log.
run() {
  TSAN_OPTIONS="halt_on_error=0 exitcode=66 ${3:-}" timeout 60 "$1" "$2" >"$log" 2>&1
  rc=$?
  reports=$(grep -c '^WARNING: ThreadSanitizer' "$log")
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log

check_plain() {
  local exe=$tmp/user-plain
  build "$1" "$exe" || { bad "build against $1"; return; }
  for s in $("$exe" --list); do
    case $s in
      race_*) run "$exe" "$s"
              if [ "$reports" -gt 0 ]; then ok "plain  $s: reported"
              else bad "plain  $s: not reported"; fi ;;
      inversion*) run "$exe" "$s" detect_deadlocks=1
              if grep -q 'lock-order-inversion' "$log"; then ok "plain  $s: reported"
              else bad "plain  $s: not reported"; cat "$log"; fi ;;
      *)      run "$exe" "$s"
              if [ "$reports" -eq 0 ] && [ "$rc" -eq 0 ]; then ok "plain  $s: 0 reports"
              else bad "plain  $s: $reports reports, exit $rc"; head -60 "$log"; fi ;;
    esac
  done
}

# The same program with WEFT_TSAN_NO_MUTEX: its locks are plain atomics to TSan,
# so the handoffs are seen only through the atomics of its fast paths and what the
# library tells. Correct scenarios run so: PLAIN_ATOMICS (default: rwlock).
PLAIN_ATOMICS=${PLAIN_ATOMICS:-rwlock}
check_plain_atomics() {
  local exe=$tmp/user-atomics
  build "$1" "$exe" -DWEFT_TSAN_NO_MUTEX || { bad "build against $1 (WEFT_TSAN_NO_MUTEX)"; return; }
  for s in $PLAIN_ATOMICS; do
    run "$exe" "$s"
    if [ "$reports" -eq 0 ] && [ "$rc" -eq 0 ]; then ok "atomics $s: 0 reports"
    else bad "atomics $s: $reports reports, exit $rc"; head -60 "$log"; fi
  done
}

check_tsan() {
  local exe=$tmp/user-tsan found=0
  build "$1" "$exe" || { bad "build against $1"; return; }
  for _ in $(seq "$RACE_RUNS"); do
    run "$exe" race_weft
    [ "$reports" -gt 0 ] && found=$((found + 1))
  done
  if [ "$found" -ge "$RACE_MIN" ]; then ok "tsan   race_weft: reported in $found of $RACE_RUNS runs"
  else bad "tsan   race_weft: reported in $found of $RACE_RUNS runs (want $RACE_MIN)"; fi
  for s in $("$exe" --list | grep '^inversion'); do
    run "$exe" "$s" detect_deadlocks=1
    if grep -q 'lock-order-inversion' "$log"; then ok "tsan   $s: reported"
    else bad "tsan   $s: not reported"; cat "$log"; fi
  done
}

[ $# -ge 1 ] || { echo "usage: $0 PLAIN_BUILD [TSAN_BUILD]"; exit 2; }
check_plain "$1"
check_plain_atomics "$1"
[ $# -ge 2 ] && check_tsan "$2"
echo "run.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
