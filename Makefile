# The two entry points of the README. Both run scripts/setup.sh first, which
# installs and builds only what is missing.
.PHONY: setup run test bench image

setup:
	./scripts/setup.sh

run: setup
	node bin/packet-headers.js $(ARGS)

test: setup
	node scripts/run-tests.js

# The container image localhost/packet-headers:<version> and :latest (Containerfile).
image:
	./scripts/build-image.sh
