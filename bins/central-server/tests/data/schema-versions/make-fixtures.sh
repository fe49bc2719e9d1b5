#!/usr/bin/env bash
# Regenerates the schema-version fixtures beside this script: for each schema version, builds
# `central-server` at the commit that introduced it, runs it (with a second central of the same
# build as its peer where that version had a mesh), posts a small, varied day of traffic through
# its HTTP API, records its answers, stops it and keeps its database (compacted).
#
# Usage: make-fixtures.sh [VERSION...]   (default: 1 to 9)
# Environment: OLD_TARGET (one target dir shared by all the builds; default
# /tmp/parkmesh-old-target), OLD_SRC (a scratch worktree; default /tmp/parkmesh-old-src).
# Needs git, cargo, curl, jq and sqlite3.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(git -C "$HERE" rev-parse --show-toplevel)
OLD_TARGET=${OLD_TARGET:-/tmp/parkmesh-old-target}
OLD_SRC=${OLD_SRC:-/tmp/parkmesh-old-src}
export CARGO_INCREMENTAL=0

# Schema version -> the first commit of the main line (first parents) whose migrations/ held
# exactly 0001..N; for 3 the last such, as the first (37a4b21) does not compile. Some
# migrations were written on branches under other numbers and renumbered when merged, so the
# commit that added a file is not always a release of that schema.
declare -A COMMIT=([1]=db998be [2]=b2a7fab [3]=e808fb6 [4]=0a4e88f [5]=04457ef [6]=a5b5895
                   [7]=ec9de3c [8]=1befcc4 [9]=5837937)

build() { # version -> path of the binary
    local v=$1 c=${COMMIT[$1]} out="$OLD_TARGET/bin/v$1"
    if [ ! -x "$out/central-server" ]; then
        [ -d "$OLD_SRC" ] || git -C "$REPO" worktree add --detach "$OLD_SRC" "$c" >&2
        git -C "$OLD_SRC" checkout -q --force --detach "$c"
        # Cargo names a workspace crate's artifacts without its path, so a target dir shared
        # with another checkout could lend this build a crate whose sources look older: make
        # every source of this commit newer than any artifact.
        find "$OLD_SRC/crates" "$OLD_SRC/bins" "$OLD_SRC/migrations" -type f -exec touch {} +
        # Some early commits' lock files lag their manifests: let cargo complete them.
        (cd "$OLD_SRC" && CARGO_TARGET_DIR="$OLD_TARGET" nice -n 10 cargo build -p central-server >&2)
        git -C "$OLD_SRC" checkout -q --force "$c"
        mkdir -p "$out" && cp "$OLD_TARGET/debug/central-server" "$out/"
    fi
    echo "$out/central-server"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

config() { # dir id api p2p peer_id peer_api peer_p2p
    jq -n --arg dir "$1" --arg id "$2" --argjson api "$3" --argjson p2p "$4" \
        --arg pid "$5" --argjson papi "$6" --argjson pp2p "$7" '{
        this_central: {id: $id, ip: "127.0.0.1", p2p_port: $p2p, api_port: $api},
        peer_centrals: [{id: $pid, ip: "127.0.0.1", p2p_port: $pp2p, api_port: $papi}],
        bind: "127.0.0.1", data_dir: ($dir + "/data"), cluster_secret: "fixture-cluster-secret-0123456789",
        timezone: "Asia/Ho_Chi_Minh", max_clock_skew_secs: 86400 }' > "$1/p2p_config.json"
}

wait_ready() { for _ in $(seq 600); do curl -sf "http://127.0.0.1:$1/" >/dev/null && return 0; sleep 0.1; done; echo "central on $1 not ready" >&2; return 1; }

post() { # port body -> answer (fails on a non-2xx status)
    curl -sS --fail-with-body -X POST -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$1/api/edge/event"
}

event() { # kind plate unix-seconds event-id
    jq -cn --arg k "$1" --arg p "$2" --argjson t "$3" --arg id "$4" \
        '{type: $k, camera_id: 1, camera_name: "Gate", camera_type: $k, timestamp: $t, event_id: $id,
          data: {plate_text: $p, confidence: 0.93, source: "auto"}}'
}

admin() { # port method path body
    curl -sS --fail-with-body -X "$2" -H 'Content-Type: application/json' -H 'X-Operator: fixture' -d "$4" "http://127.0.0.1:$1$3"
}

history_has() { # port jq-filter: waits until the history answer satisfies it
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$1/api/parking/history?limit=1000" | jq -e "$2" >/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for $2 at $1" >&2; return 1
}

fixture() {
    local v=$1 bin; bin=$(build "$v")
    local work; work=$(mktemp -d)
    local a="$work/a" b="$work/b"; mkdir -p "$a" "$b"
    local a_api a_p2p b_api b_p2p
    a_api=$(free_port); a_p2p=$(free_port); b_api=$(free_port); b_p2p=$(free_port)
    config "$a" central-1 "$a_api" "$a_p2p" central-2 "$b_api" "$b_p2p"
    config "$b" central-2 "$b_api" "$b_p2p" central-1 "$a_api" "$a_p2p"
    RUST_LOG=warn "$bin" --config "$a/p2p_config.json" >/dev/null 2>"$a/stderr.log" & pa=$!
    RUST_LOG=warn "$bin" --config "$b/p2p_config.json" >/dev/null 2>"$b/stderr.log" & pb=$!
    trap 'kill $pa $pb 2>/dev/null' EXIT
    wait_ready "$a_api"; wait_ready "$b_api"

    # A day of traffic, two to four hours ago.
    local t0; t0=$(( $(date +%s) - 4 * 3600 ))
    admin "$a_api" PUT /api/parking/fees '{"fees": {"fee_base": 0.25, "fee_per_hour": 8000}}' >/dev/null
    for i in 1 2 3 4 5 6; do post "$a_api" "$(event ENTRY "30A1000$i" $((t0 + i * 60)) "e$i")" >/dev/null; done
    post "$a_api" "$(event EXIT 30A10001 $((t0 + 5400)) x1)" >/dev/null          # 1.5 h, a fee
    post "$a_api" "$(event EXIT 30A10002 $((t0 + 9000)) x2)" >/dev/null          # 2.5 h
    post "$a_api" "$(event EXIT 51G99999 $((t0 + 9100)) x3)" >/dev/null           # no entry: an exception
    post "$a_api" "$(event ENTRY 30A10001 $((t0 + 9200)) e7)" >/dev/null          # the same car again
    post "$a_api" "$(event ENTRY 30A10001 $((t0 + 9200)) e7)" >/dev/null          # a repeat (idempotent)
    local h; h=$(curl -sf "http://127.0.0.1:$a_api/api/parking/history?limit=1000")
    local id3 id4
    id3=$(jq -r '.history[] | select(.plate_id == "30A10003") | .id' <<<"$h")
    id4=$(jq -r '.history[] | select(.plate_id == "30A10004") | .id' <<<"$h")
    # Operator corrections where this version had them (from schema 2 on).
    if [ "$v" -ge 2 ]; then
        admin "$a_api" PUT "/api/parking/history/$id3" '{"plate_id": "30A10033", "plate_view": "30A-100.33"}' >/dev/null
        admin "$a_api" DELETE "/api/parking/history/$id4" '{}' >/dev/null
        post "$a_api" "$(event EXIT 30A10033 $((t0 + 10000)) x4)" >/dev/null     # exit under the corrected plate
        if [ "$v" -ge 3 ]; then # an operator's manual entry (at the time of the run)
            admin "$a_api" POST /api/parking/manual-entry '{"plate_text": "30H77777", "camera_type": "ENTRY"}' >/dev/null
        fi
        # Replicated: a car that entered here leaves through the other central, and one that
        # only the other central saw.
        post "$b_api" "$(event EXIT 30A10005 $((t0 + 10800)) y1)" >/dev/null
        post "$b_api" "$(event ENTRY 29B55555 $((t0 + 3000)) y2)" >/dev/null
        post "$b_api" "$(event EXIT 29B55555 $((t0 + 6000)) y3)" >/dev/null
        history_has "$a_api" '[.history[] | select((.plate_id == "30A10005" or .plate_id == "29B55555") and .status == "OUT")] | length == 2'
    else
        post "$a_api" "$(event EXIT 30A10003 $((t0 + 10000)) x4)" >/dev/null
    fi

    # The answers this version gave (each path it served with a 200).
    local day; day=$(TZ=Asia/Ho_Chi_Minh date -d "@$t0" +%F)
    local next; next=$(TZ=Asia/Ho_Chi_Minh date -d "@$((t0 + 86400))" +%F)
    local prev; prev=$(TZ=Asia/Ho_Chi_Minh date -d "@$((t0 - 86400))" +%F)
    local answers='{}'
    for path in "/api/parking/history?limit=1000" "/api/parking/history?limit=1000&status=IN" \
        "/api/parking/history?limit=1000&search=30A" "/api/parking/state" "/api/stats" \
        "/api/parking/fees" "/api/parking/history/changes" "/api/parking/occupancy" \
        "/api/reports/daily?from=$prev&to=$next" "/api/reports/cross-site?from=$prev&to=$next"; do
        local body
        if body=$(curl -sf "http://127.0.0.1:$a_api$path") && jq -e . >/dev/null 2>&1 <<<"$body"; then
            answers=$(jq --arg p "$path" --argjson b "$body" '. + {($p): $b}' <<<"$answers")
        fi
    done

    kill -TERM "$pa" "$pb"; wait "$pa" "$pb" || true
    local out="$HERE/v$v"; mkdir -p "$out"
    # One file, small pages, no WAL: the database as that version left it, compacted.
    sqlite3 "$a/data/central.db" 'PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;' >/dev/null
    cp "$a/data/central.db" "$out/central.sqlite"
    sqlite3 "$out/central.sqlite" 'PRAGMA page_size=512; VACUUM;'
    jq -S --arg c "${COMMIT[$v]}" --argjson s "$v" '{commit: $c, schema: $s, answers: .}' <<<"$answers" > "$out/answers.json"
    echo "v$v (${COMMIT[$v]}): $(stat -c %s "$out/central.sqlite") bytes, $(jq '.answers | length' "$out/answers.json") answers" >&2
    rm -rf "$work"
}

for v in "${@:-1 2 3 4 5 6 7 8 9}"; do
    for one in $v; do fixture "$one"; done
done
