# liboauthmail: the two commands a newcomer needs.
#   make demo   build everything, start the local Google stand-in, authorize, refresh and send from a C host
#   make test   every test suite (installs what a fresh machine lacks first)
.PHONY: demo test deps build header

# The demo needs only the native toolchain, not the browser, bindings or Windows tool sets.
demo:
	bash scripts/deps.d/10-base.sh
	bash scripts/demo.sh

test: deps
	bash scripts/test.sh

deps:
	bash scripts/install-deps.sh

build:
	cargo build --workspace --release

header:
	cargo build -p oauthmail && git diff --exit-code include/oauthmail.h
