# liboauthmail: the two commands a newcomer needs.
#   make demo   build everything, start the local Google stand-in, authorize, refresh and send from a C host
#   make test   every test suite (installs what a fresh machine lacks first; builds dist/ first)
# and for releases:
#   make dist                     the packages in dist/ (Windows zip, NuGet, Python wheels)
#   make install PREFIX=/usr/local   the Unix library: header, .so (soname liboauthmail.so.0), .a, oauthmail.pc
.PHONY: demo test deps build header dist install

PREFIX ?= /usr/local

# The demo needs only the native toolchain, not the browser, bindings or Windows tool sets.
demo:
	bash scripts/deps.d/10-base.sh
	bash scripts/demo.sh

# dist first: scripts/test.d/60-windows.sh and 70-dist.sh test the packaged files themselves.
test: deps dist
	bash scripts/test.sh

deps:
	bash scripts/install-deps.sh

dist:
	bash scripts/dist.sh

install:
	PREFIX="$(PREFIX)" LIBDIR="$(LIBDIR)" INCLUDEDIR="$(INCLUDEDIR)" DESTDIR="$(DESTDIR)" bash scripts/install.sh

build:
	cargo build --workspace --release

header:
	cargo build -p oauthmail && git diff --exit-code include/oauthmail.h
