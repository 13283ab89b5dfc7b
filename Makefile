# Provider credentials API. `make run` serves it locally, `make test` proves it.
SHELL := /bin/bash
GO    ?= go
GOFLAGS_LAMBDA := -tags lambda.norpc -trimpath -ldflags='-s -w'

.PHONY: run test vet lint fuzz bench invoke refresh tidy clean

## run: the whole API on http://127.0.0.1:3000 (PORT), moto_server started unless AWS_ENDPOINT_URL is set
run:
	$(GO) run ./cmd/localapi

## refresh: run the scheduled usage refresh once, every segment (AWS_ENDPOINT_URL: the emulator `make run` printed)
refresh:
	$(GO) run ./cmd/refresh

## test: vet, every test (integration tests start moto_server), short fuzzing, template lint
test: vet
	$(GO) test -count=1 ./...
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory lint

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

## lint: validate template.yaml with cfn-lint and the SAM translator
lint:
	cfn-lint template.yaml

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
