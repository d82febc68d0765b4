#!/usr/bin/env bash
# The mutation check of the loom models (docs/testing.md): applies each
# seeded concurrency bug of scripts/mutants.txt, one at a time, to a scratch
# copy of the crate, runs the loom suites and a chosen subset of the plain
# tests, and prints a table: mutant, caught by loom, caught by plain tests.
# Fails if any mutant escapes every loom model, if a mutant's search text is
# not found exactly once (so mutants cannot rot silently when code moves),
# or if a mutant does not build.
#
#   scripts/mutants.sh                 every mutant
#   scripts/mutants.sh ID...           only these
#   scripts/mutants.sh --check         only check that every mutant applies
#
# Environment:
#   MUTANTS_FILE          the mutant list (default scripts/mutants.txt)
#   MUTANTS_BASELINE=0    skip the run of the unmutated tree (default: run
#                         it first; it must pass, or the table means nothing)
#   MUTANTS_PLAIN=0       skip the plain tests' column
#   MUTANTS_PLAIN_TIMEOUT seconds before a plain-test run counts as a hang,
#                         which counts as caught (default 120)
#   MUTANTS_LOOM_TIMEOUT  seconds per loom test target (default 1800)
#   MUTANTS_TABLE         also write the table to this file
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MUTANTS_FILE="${MUTANTS_FILE:-$ROOT/scripts/mutants.txt}"
WORK="$ROOT/target/mutants"
TREE="$WORK/tree"
PRISTINE="$WORK/pristine"
LOGS="$WORK/logs"
# Target directories of their own: cargo files a package's artifacts by its
# name, not its path, so building the scratch copy in the usual ones would
# overwrite the real tree's. Seeded once from those (dependencies reused).
LOOM_TARGET="$WORK/target-loom"
PLAIN_TARGET="$WORK/target-plain"
PLAIN_TIMEOUT="${MUTANTS_PLAIN_TIMEOUT:-120}"
LOOM_TIMEOUT="${MUTANTS_LOOM_TIMEOUT:-1800}"
# The plain tests' column: the integration tests of the protocols the
# mutants touch (single-flight, async, policies, the newer operations), in
# debug, with a timeout.
PLAIN_TARGETS=(single_flight async_flight policies api)
export CARGO_TERM_COLOR=never

HELPER="$WORK/mutants.py"
mkdir -p "$WORK" "$LOGS"
cat >"$HELPER" <<'PY'
import sys

def unescape(text):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "n":
                out.append("\n"); i += 2; continue
            if nxt == "\\":
                out.append("\\"); i += 2; continue
        out.append(c); i += 1
    return "".join(out)

FIELDS = ("id", "protocol", "file", "bug", "loom", "search", "replace")

def parse(path):
    records, current = [], {}
    for number, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                records.append(current); current = {}
            continue
        key, sep, value = line.partition(": ")
        if not sep or key not in FIELDS:
            sys.exit(f"{path}:{number}: expected `field: value` with a field of {FIELDS}")
        if key in current:
            sys.exit(f"{path}:{number}: `{key}` given twice")
        current[key] = value
    if current:
        records.append(current)
    ids = set()
    for r in records:
        missing = [f for f in FIELDS if f not in r]
        if missing:
            sys.exit(f"mutant {r.get('id', '?')}: missing {missing}")
        if r["id"] in ids:
            sys.exit(f"mutant {r['id']}: duplicate id")
        ids.add(r["id"])
    return records

def find(records, wanted):
    for r in records:
        if r["id"] == wanted:
            return r
    sys.exit(f"no mutant `{wanted}`")

def apply(tree, r):
    path = f"{tree}/{r['file']}"
    text = open(path, encoding="utf-8").read()
    search, replace = unescape(r["search"]), unescape(r["replace"])
    count = text.count(search)
    if count != 1:
        return f"mutant {r['id']}: the search text occurs {count} times in {r['file']} (must be exactly once): {r['search']!r}"
    open(path, "w", encoding="utf-8").write(text.replace(search, replace))
    return None

command, path = sys.argv[1], sys.argv[2]
records = parse(path)
if command == "ids":
    print("\n".join(r["id"] for r in records))
elif command == "field":
    print(find(records, sys.argv[3])[sys.argv[4]])
elif command == "check":
    # Applies every mutant to a scratch copy of each file it touches.
    import shutil, tempfile
    tree = sys.argv[3]
    errors = []
    for r in records:
        with tempfile.TemporaryDirectory() as scratch:
            import os
            os.makedirs(os.path.dirname(f"{scratch}/{r['file']}"), exist_ok=True)
            try:
                shutil.copy(f"{tree}/{r['file']}", f"{scratch}/{r['file']}")
            except FileNotFoundError:
                errors.append(f"mutant {r['id']}: no file {r['file']}"); continue
            error = apply(scratch, r)
            if error:
                errors.append(error)
    if errors:
        sys.exit("\n".join(errors))
    print(f"all {len(records)} mutants apply exactly once")
elif command == "apply":
    error = apply(sys.argv[3], find(records, sys.argv[4]))
    if error:
        sys.exit(error)
PY
mutants() { python3 "$HELPER" "$@"; }

echo "=== checking that every mutant applies exactly once"
mutants check "$MUTANTS_FILE" "$ROOT"
if [ "${1:-}" = "--check" ]; then
    exit 0
fi

# A scratch copy of the crate (tracked and new files, no target/), so an
# interrupted run never leaves a mutant behind in the real tree.
rm -rf "$TREE" "$PRISTINE"
mkdir -p "$TREE" "$PRISTINE"
(cd "$ROOT" && git ls-files -z -co --exclude-standard | grep -zv '^target/' |
    xargs -0 -I{} cp --parents {} "$TREE")
cp -a "$TREE/." "$PRISTINE"
if [ ! -d "$LOOM_TARGET" ] && [ -d "$ROOT/target/loom" ]; then
    cp -a "$ROOT/target/loom" "$LOOM_TARGET"
fi
if [ ! -d "$PLAIN_TARGET" ] && [ -d "$ROOT/target/debug" ]; then
    mkdir -p "$PLAIN_TARGET"
    cp -a "$ROOT/target/debug" "$PLAIN_TARGET/debug"
fi

if [ $# -gt 0 ]; then
    IDS=("$@")
else
    mapfile -t IDS < <(mutants ids "$MUTANTS_FILE")
fi
mapfile -t LOOM_TARGETS < <(cd "$TREE" && grep -A1 '^\[\[test\]\]' Cargo.toml |
    sed -n 's/^name = "\(loom_[a-z_]*\)"/\1/p')

loom() {
    (cd "$TREE" && RUSTFLAGS="--cfg shardcache_loom" CARGO_TARGET_DIR="$LOOM_TARGET" \
        SHARDCACHE_LOOM_REPLAY=0 "$@")
}

# Runs the loom targets, hinted ones first, until one fails. Prints
# "yes: <models> (<target>)" or "no".
run_loom() {
    local log="$1" hinted="$2" target order=() seen=" "
    for target in $hinted "${LOOM_TARGETS[@]}"; do
        case "$seen" in *" $target "*) continue ;; esac
        seen+="$target "
        order+=("$target")
    done
    if ! loom cargo test --profile loom --test 'loom_*' --no-run >"$log.build" 2>&1; then
        echo "BUILD-FAILED"
        return
    fi
    for target in "${order[@]}"; do
        local out="$log.$target"
        if ! loom timeout "$LOOM_TIMEOUT" cargo test --profile loom --test "$target" >"$out" 2>&1; then
            local models
            models="$( (grep -o 'loom model `[^`]*` FAILED' "$out" || true) |
                sed 's/loom model `\([^`]*\)` FAILED/\1/' | sort -u | paste -sd, -)"
            if [ -z "$models" ]; then
                models="$( (grep -o '^test [a-z_0-9:]* \.\.\. FAILED' "$out" || true) |
                    awk '{print $2}' | sort -u | paste -sd, -)"
            fi
            echo "yes: ${models:-aborted} ($target)"
            return
        fi
    done
    echo "no"
}

# The plain tests' column: caught if a chosen test fails or hangs.
run_plain() {
    local log="$1" args=() target
    for target in "${PLAIN_TARGETS[@]}"; do args+=(--test "$target"); done
    if ! (cd "$TREE" && CARGO_TARGET_DIR="$PLAIN_TARGET" cargo test "${args[@]}" --no-run) >"$log.build" 2>&1; then
        echo "BUILD-FAILED"
        return
    fi
    local status=0
    (cd "$TREE" && CARGO_TARGET_DIR="$PLAIN_TARGET" \
        timeout "$PLAIN_TIMEOUT" cargo test --no-fail-fast "${args[@]}") >"$log" 2>&1 || status=$?
    if [ "$status" = 0 ]; then
        echo "no"
    elif [ "$status" = 124 ]; then
        echo "yes (hangs)"
    else
        local failed
        failed="$( (grep -o '^test [a-z_0-9:]* \.\.\. FAILED' "$log" || true) |
            awk '{print $2}' | sort -u | head -3 | paste -sd, -)"
        echo "yes: ${failed:-aborted}"
    fi
}

if [ "${MUTANTS_BASELINE:-1}" != 0 ]; then
    echo "=== baseline: the unmutated tree must pass"
    base="$(run_loom "$LOGS/baseline.loom" "")"
    if [ "$base" != "no" ]; then
        echo "the loom suite fails without any mutant: $base (logs: $LOGS/baseline.loom.*)" >&2
        exit 1
    fi
    if [ "${MUTANTS_PLAIN:-1}" != 0 ]; then
        base="$(run_plain "$LOGS/baseline.plain")"
        if [ "$base" != "no" ]; then
            echo "the plain tests fail without any mutant: $base (log: $LOGS/baseline.plain)" >&2
            exit 1
        fi
    fi
fi

rows=()
escaped=0
for id in "${IDS[@]}"; do
    file="$(mutants field "$MUTANTS_FILE" "$id" file)"
    protocol="$(mutants field "$MUTANTS_FILE" "$id" protocol)"
    bug="$(mutants field "$MUTANTS_FILE" "$id" bug)"
    hinted="$(mutants field "$MUTANTS_FILE" "$id" loom)"
    cp "$PRISTINE/$file" "$TREE/$file"
    mutants apply "$MUTANTS_FILE" "$TREE" "$id"
    echo "=== $id ($protocol: $bug) [$(date -u +%H:%M:%S)]"
    by_loom="$(run_loom "$LOGS/$id.loom" "$hinted")"
    echo "    loom:  $by_loom"
    by_plain="-"
    if [ "${MUTANTS_PLAIN:-1}" != 0 ]; then
        by_plain="$(run_plain "$LOGS/$id.plain")"
        echo "    plain: $by_plain"
    fi
    cp "$PRISTINE/$file" "$TREE/$file"
    case "$by_loom" in
    yes*) ;;
    BUILD-FAILED)
        echo "mutant $id does not build (log: $LOGS/$id.loom.build)" >&2
        escaped=1
        ;;
    *) escaped=1 ;;
    esac
    rows+=("| \`$id\` | $protocol | $bug | $by_loom | $by_plain |")
done

table="$(
    echo "| mutant | protocol | bug | caught by loom | caught by plain tests |"
    echo "| --- | --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}"
)"
echo
echo "$table"
if [ -n "${MUTANTS_TABLE:-}" ]; then
    echo "$table" >"$MUTANTS_TABLE"
fi
if [ "$escaped" != 0 ]; then
    echo "some mutants escaped every loom model or did not build" >&2
    exit 1
fi
