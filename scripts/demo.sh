#!/usr/bin/env bash
# The demo: install what is needed, start a local Kizen emulator, create a SQLite warehouse with sample
# rows, and run the kizen_warehouse_followups and kizen_followup_escalation DAGs end to end; then change
# the warehouse and run the follow-ups again, which updates and cancels in place. Run it twice: the
# second run finds every follow-up in step with the warehouse and writes nothing to Kizen.
# `rm -rf .demo` starts over.
#
#   KIZEN_DEMO_DIR=path         where the demo keeps its state (default: .demo in the repository)
#   KIZEN_DEMO_SKIP_BOOTSTRAP=1 skip the install; python, airflow and kizen-emulator must be on PATH
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${KIZEN_DEMO_SKIP_BOOTSTRAP:-0}" = "1" ]; then
    command -v kizen-emulator >/dev/null || { echo "kizen-emulator is not on PATH; activate the venv" >&2; exit 1; }
else
    echo "Installing the project and its tools into $ROOT/.venv (the first time takes a few minutes)..."
    source "$ROOT/scripts/bootstrap.sh"
fi

DEMO_DIR="$(mkdir -p "${KIZEN_DEMO_DIR:-$ROOT/.demo}" && cd "${KIZEN_DEMO_DIR:-$ROOT/.demo}" && pwd)"
export AIRFLOW_HOME="$DEMO_DIR/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$DEMO_DIR/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING
unset AIRFLOW_CONN_KIZEN_DEFAULT AIRFLOW_CONN_KIZEN_WAREHOUSE

# The DAGs folder holds the two warehouse DAG files, copied alone as a user would.
rm -rf "$AIRFLOW__CORE__DAGS_FOLDER"
mkdir -p "$AIRFLOW__CORE__DAGS_FOLDER"
cp "$ROOT/example_dags/kizen_warehouse_followups.py" "$ROOT/example_dags/kizen_followup_escalation.py" \
    "$AIRFLOW__CORE__DAGS_FOLDER/"

if [ ! -f "$AIRFLOW_HOME/airflow.db" ]; then
    echo "Creating Airflow's metadata database in $AIRFLOW_HOME..."
    airflow db migrate >"$DEMO_DIR/airflow-db-migrate.log" 2>&1 ||
        { cat "$DEMO_DIR/airflow-db-migrate.log" >&2; exit 1; }
fi

# The emulator picks a free loopback port and prints the connection to use.
EMULATOR_LOG="$DEMO_DIR/emulator.log"
kizen-emulator --port 0 --state-file "$DEMO_DIR/kizen-emulator.sqlite" >"$EMULATOR_LOG" 2>&1 &
EMULATOR_PID=$!
trap 'kill "$EMULATOR_PID" 2>/dev/null || true; wait "$EMULATOR_PID" 2>/dev/null || true' EXIT
for _ in $(seq 600); do  # up to a minute on a busy machine
    grep -q '^AIRFLOW_CONN_KIZEN_DEFAULT=' "$EMULATOR_LOG" && break
    kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$EMULATOR_LOG" >&2; exit 1; }
    sleep 0.1
done
CONNECTION_LINE="$(grep -m1 '^AIRFLOW_CONN_KIZEN_DEFAULT=' "$EMULATOR_LOG")" ||
    { echo "The emulator did not start:" >&2; cat "$EMULATOR_LOG" >&2; exit 1; }
CONNECTION_URI="${CONNECTION_LINE#AIRFLOW_CONN_KIZEN_DEFAULT=}"
CONNECTION_URI="${CONNECTION_URI#\'}"
export AIRFLOW_CONN_KIZEN_DEFAULT="${CONNECTION_URI%\'}"
EMULATOR_URL="$(grep -m1 -o 'http://[0-9.]*:[0-9]*' "$EMULATOR_LOG")"
echo "Kizen emulator running at $EMULATOR_URL"

# The sample warehouse, made by the command the README gives users.
export AIRFLOW_CONN_KIZEN_WAREHOUSE="sqlite://$(python -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$DEMO_DIR/warehouse.db")"
if [ ! -f "$DEMO_DIR/warehouse.db" ]; then
    python "$ROOT/example_dags/kizen_sample_warehouse.py" >>"$DEMO_DIR/dag-test.log" 2>&1 ||
        { cat "$DEMO_DIR/dag-test.log" >&2; exit 1; }
    echo "Created the sample SQLite warehouse $DEMO_DIR/warehouse.db"
else
    echo "Reusing the SQLite warehouse $DEMO_DIR/warehouse.db"
fi

python "$ROOT/scripts/demo.py" --demo-dir "$DEMO_DIR" --emulator-url "$EMULATOR_URL"
