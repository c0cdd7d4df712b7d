# The two commands of the quick start: `make demo` and `make test`.
# Each one installs what is missing (scripts/setup.sh is idempotent), then runs.
.PHONY: setup build lint test demo bench clean

setup:
	./scripts/setup.sh

build: setup

lint: setup
	npx biome check .

test: setup lint
	npm test

demo: setup
	node dist/src/cli/main.js sandbox demo

bench: setup
	npm run bench

clean:
	rm -rf dist
