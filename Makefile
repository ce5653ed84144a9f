.PHONY: run test lint bench bench-tick bench-stream bench-external bench-abuse bench-orders bench-history

run:
	scripts/serve

test:
	scripts/test

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench: bench-tick bench-stream bench-external bench-abuse bench-orders bench-history

bench-tick:
	.venv/bin/python bench/bench_tick.py

bench-stream:
	.venv/bin/python bench/bench_stream.py

bench-external:
	.venv/bin/python bench/bench_external.py

bench-abuse:
	.venv/bin/python bench/bench_stream_abuse.py

bench-orders:
	.venv/bin/python bench/bench_orders.py

bench-history:
	.venv/bin/python bench/bench_history.py
