# The two entry points of the README. Both run scripts/setup.sh first, which
# installs and builds only what is missing.
.PHONY: setup run test bench image

setup:
	./scripts/setup.sh

# Files go to DATADIR (not into the checkout); flags in ARGS come after and win.
DATADIR ?= /var/spool/packet-headers

run: setup
	node bin/packet-headers.js -datadir $(DATADIR) $(ARGS)

test: setup
	node scripts/run-tests.js

# The container image localhost/packet-headers:<version> and :latest (Containerfile).
image:
	./scripts/build-image.sh
