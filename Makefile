# Peerline: `make run` to serve a working site, `make test` to check it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := app

.PHONY: install run worker test lint clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Peerline needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies change; a second run reuses the venv.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[postgres,test]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask accounts ensure-admin
	$(BIN)/flask demo load --if-empty
	$(BIN)/flask markup rerender --if-stale
	$(BIN)/flask search reconcile
	$(BIN)/flask run --host $(HOST) --port $(PORT)

# RQ workers (one alone on the search queue: Whoosh has one writer) and RQ's cron scheduler.
worker: install
	@test -n "$$REDIS_URL" || { echo "Set REDIS_URL: without it jobs run inside the web process."; exit 1; }
	$(BIN)/flask db upgrade
	trap 'trap - INT TERM EXIT; kill 0 2>/dev/null' INT TERM EXIT; \
	$(BIN)/flask jobs worker --queue search & \
	$(BIN)/flask jobs worker --queue default --queue mail & \
	$(BIN)/flask jobs cron & \
	wait

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Two pytest-xdist workers: about 1.5 times as fast on two cores. Each works in a PostgreSQL schema,
# a Redis database (PEERLINE_TEST_REDIS_URL's, default 14, plus the worker's number) and temporary
# folders of its own. TEST_WORKERS=0 runs the tests in this one process.
TEST_WORKERS ?= 2
test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

# A full-page screenshot of every page of the three journeys, for each kind of person, at 1280 and
# 390 px, in screenshots/ (the demo community in a throw-away database; needs Debian's chromium).
# Options: make screenshots SHOTS_ARGS="--role member --width 390"
.PHONY: screenshots
screenshots: install
	$(BIN)/python -m tests.e2e.screenshots --out screenshots $(SHOTS_ARGS)

# The forum-page benchmark: thread page, lists and escalation queue as a visitor, a member and staff, against
# a one-query baseline; the first run generates a large community under bench/.data (kept, gitignored).
# Options: make bench BENCH_ARGS="--seconds 20 --database-url postgresql://postgres@127.0.0.1:5432/peerline_bench"
.PHONY: bench
bench: install
	$(BIN)/python bench/forum_pages.py $(BENCH_ARGS)

# The search benchmark: Whoosh (search/) against SQLite FTS5 on the generated community, with an RQ
# worker for time-to-findable (Redis database 13, flushed; BENCH_REDIS_URL or --redis-url to change it).
# Targets: build >= 1,000 documents/s, query p99 < 150 ms and <= 1.5x FTS5's, suggestion p99 < 50 ms,
# findable < 5 s; exit status 2 when one is missed.
# Options: make bench-search BENCH_ARGS="--queries 500 --find 20"
.PHONY: bench-search
bench-search: install
	$(BIN)/python bench/search.py $(BENCH_ARGS)

# Search-engine latency on generated in-memory documents (no database): queries, suggestions, commits
# and bad input, in milliseconds and as ratios to a small index measured in the same run.
# Options: make bench-search-latency BENCH_ARGS="--documents 5000"
.PHONY: bench-search-latency
bench-search-latency: install
	$(BIN)/python bench/search_latency.py $(BENCH_ARGS)

# The posting load test (issue 9): signed-in people asking and answering against the server started
# as in production (gunicorn, PostgreSQL database peerline_posting_bench, Redis database 12, RQ workers
# and cron) and as `make run` starts it (flask run, SQLite, jobs in the web process).
# Options: make bench-posting BENCH_ARGS="--people 5 --seconds 15 --mode make-run"
.PHONY: bench-posting
bench-posting: install
	$(BIN)/python bench/posting_load.py $(BENCH_ARGS)

# The escalation sweep (issue 11): the first sweep, the steady state (nothing changed: nothing written,
# under 10 s) and the sweep after new threads pass their peer window, over a generated community of
# 100,000 threads in its own file (bench/.data/community-100k.sqlite3; about 80 s to generate once),
# on a copy; with ratios to a count of the open threads and to the forum's unanswered list.
# Options: make bench-escalation BENCH_ARGS="--explain --database-url postgresql://postgres@127.0.0.1:5432/peerline_bench_escalation"
.PHONY: bench-escalation
bench-escalation: install
	$(BIN)/python bench/escalation_sweep.py $(BENCH_ARGS)

# The insights roll-up (issue: a day under 2 s, a year's recompute under 2 minutes, the dashboard from
# snapshots under 100 ms at p99) over a generated community with a year of history: 100,000 threads and
# 1,000,000 posts by default in its own file (bench/.data/insights-100k.sqlite3), measured on a copy,
# with ratios to one statement over all posts.
# Options: make bench-insights BENCH_ARGS="--threads 5000 --explain --database-url postgresql://postgres@127.0.0.1:5432/peerline_bench_insights"
.PHONY: bench-insights
bench-insights: install
	$(BIN)/python bench/insights_rollup.py $(BENCH_ARGS)
