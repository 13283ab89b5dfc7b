# Provider credentials API. `make run` serves it locally, `make test` proves it.
SHELL := /bin/bash
GO    ?= go
GOFLAGS_LAMBDA := -tags lambda.norpc -trimpath -ldflags='-s -w'

.PHONY: run test vet lint fuzz bench invoke refresh tidy clean help staticcheck errcheck race emulator-check

# staticcheck at a pinned version, run through the Go toolchain (no install).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The packages with concurrency, run again under the race detector (needs cgo: gcc).
RACE_PKGS ?= ./shared/refresh/... ./shared/liveusage/... ./shared/credentials/... ./shared/dev/localapi/...
# errcheck at a pinned version, over every package.
ERRCHECK ?= github.com/kisielk/errcheck@v1.30.0
ERRCHECK_PKGS ?= ./...
# The AWS emulator the integration tests start.
MOTO_SERVER ?= moto_server

## run: the whole API on http://127.0.0.1:3000 (PORT), moto_server started unless AWS_ENDPOINT_URL is set
run:
	$(GO) run ./cmd/localapi

## refresh: run the scheduled usage refresh once, every segment (AWS_ENDPOINT_URL: the emulator `make run` printed)
refresh:
	$(GO) run ./cmd/refresh

## help: list these targets
help:
	@awk '/^## [a-z%-]+:/ { l = substr($$0, 4); i = index(l, ":"); printf "  make %-12s %s\n", substr(l, 1, i-1), substr(l, i+2); next } \
	  /^## / { printf "  %-17s %s\n", "", substr($$0, 4) }' $(firstword $(MAKEFILE_LIST))

## test: vet, staticcheck, errcheck, every test (integration tests start moto_server), the race detector
## over the concurrent packages, short fuzzing, template lint
test: vet staticcheck errcheck emulator-check
	$(GO) test -count=1 ./...
	$(MAKE) --no-print-directory race
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory lint

## staticcheck: staticcheck (pinned in the Makefile) over every package; zero findings
staticcheck:
	$(GO) run $(STATICCHECK) ./...

## errcheck: no unchecked error (pinned errcheck) in ERRCHECK_PKGS
errcheck:
	$(GO) run $(ERRCHECK) $(ERRCHECK_PKGS)

## race: the tests of the packages with concurrency under the race detector
race:
	CGO_ENABLED=1 $(GO) test -race -count=1 $(RACE_PKGS)

# Without moto_server the integration tests skip quietly (their notice needs
# -v): say once which packages they are and how to install the emulator.
# Under CI=true a missing emulator is a failure.
emulator-check:
	@if ! command -v $(MOTO_SERVER) >/dev/null 2>&1; then \
	  pkgs=$$(grep -rl --include='*_test.go' -e 'awstest.Main(' -e 'moto.Start(' . | xargs -n1 dirname | sort -u | tr '\n' ' '); \
	  echo "NOTICE: $(MOTO_SERVER) not found on PATH: the AWS integration tests of $$pkgs are SKIPPED."; \
	  echo "        Install the emulator with: python3 -m pip install 'moto[server]==5.2.1'"; \
	  if [ "$$CI" = true ]; then echo "CI=true: a missing emulator is a failure" >&2; exit 1; fi; \
	fi

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

## lint: validate template.yaml with cfn-lint and the SAM translator, informational checks included
lint:
	cfn-lint template.yaml --include-checks I # the file first: --include-checks takes several values

# A count, not a duration: Go 1.26's fuzz coordinator can fail a run with a
# bare "context deadline exceeded" when a duration ends mid-execution
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 5000x
## fuzz: run each fuzz target briefly (seeds run in every `go test` anyway)
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/tmp/fuzz.$$$$.log 2>&1 \
	      || { cat /tmp/fuzz.$$$$.log; rm -f /tmp/fuzz.$$$$.log; exit 1; }; \
	  done; \
	done; rm -f /tmp/fuzz.$$$$.log

# sam build runs `make build-<LogicalId>` with ARTIFACTS_DIR; the function's
# folder is its logical id in kebab case: ListCredentialsFunction → functions/list-credentials.
fndir = $(shell echo '$(1)' | sed -E 's/Function$$//; s/([a-z0-9])([A-Z])/\1-\2/g' | tr 'A-Z' 'a-z')
build-%:
	@if [ -z "$(ARTIFACTS_DIR)" ]; then \
	  echo "make build-$*: ARTIFACTS_DIR is not set (sam build sets it); to build by hand: make build-$* ARTIFACTS_DIR=bin/$*" >&2; \
	  exit 2; fi
	GOOS=linux GOARCH=$${GOARCH:-arm64} CGO_ENABLED=0 $(GO) build $(GOFLAGS_LAMBDA) \
	  -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(call fndir,$*)

tidy:
	$(GO) mod tidy

clean:
	rm -rf .aws-sam bin

.PHONY: rie
## invoke: run one function's real bootstrap under the Lambda Runtime Interface Emulator against
## moto, as `sam local invoke` would: make invoke FN=GetCredentialFunction EVENT=events/get-credential/ok.json
invoke:
	@if [ -z "$(FN)" ] || [ -z "$(EVENT)" ]; then \
	  echo "usage: make invoke FN=<LogicalId> EVENT=events/<function>/<file>.json"; exit 2; fi
	$(GO) run ./cmd/invoke -fn '$(FN)' -event '$(EVENT)'

## rie: install the pinned Lambda Runtime Interface Emulator into the user cache (the tests and
## `make invoke` install it themselves when it is missing)
rie:
	$(GO) run ./cmd/invoke -install

## bench: cold start, binary size, AWS calls and our own cost per request, refresh throughput and its reach
## at 100,000 credentials, key cache reads, cost per credential-month and per million requests (about 6 min);
## prints one figure per line and writes BENCHMARKS.md. Fails if a route makes more AWS calls than designed.
bench:
	@$(GO) run ./cmd/bench
