# gatepass build. Tools are pinned here and installed into .tools/bin.
SHELL := /bin/bash
BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.0
GRPCURL_VERSION := v1.9.4
GOLANGCI_LINT_VERSION := v2.15.0

TOOLS := $(CURDIR)/.tools/bin
BUF := $(TOOLS)/buf
MODULES := pkg pkg/gen pkg/client services/issuer services/validator
BINARIES := issuer validator
GO_TEST_FLAGS ?= -race -count=1 -timeout 15m

.PHONY: all generate lint test test-short build run bench tools tidy check-generated sim chaos load

all: lint build test

$(TOOLS)/buf:
	GOBIN=$(TOOLS) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(TOOLS)/grpcurl:
	GOBIN=$(TOOLS) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

$(TOOLS)/golangci-lint:
	GOBIN=$(TOOLS) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

## tools: the pinned code generators, and grpcurl for the README walk-through.
tools: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/grpcurl $(TOOLS)/golangci-lint

# buf/validate/validate.proto, which the API's request rules import, printed
# from the descriptor protovalidate's Go module ships (no registry needed).
VALIDATE_PROTO := .tools/proto/buf/validate/validate.proto
$(VALIDATE_PROTO): pkg/go.mod pkg/internal/validateproto/main.go
	go run ./pkg/internal/validateproto .tools/proto

## generate: regenerate Go code from proto/ into pkg/gen.
generate: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(VALIDATE_PROTO)
	rm -rf pkg/gen/gatepass
	$(BUF) generate

## check-generated: fail when pkg/gen is not what generate would write.
check-generated: generate
	@git diff --exit-code -- pkg/gen || { echo "pkg/gen is stale: run make generate" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- pkg/gen)" || { echo "pkg/gen has untracked files: run make generate" >&2; exit 1; }

## lint: gofmt, go vet, golangci-lint (.golangci.yml), buf lint and buf format.
lint: $(TOOLS)/buf $(TOOLS)/golangci-lint $(VALIDATE_PROTO)
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(addsuffix /...,$(addprefix ./,$(MODULES)))
	$(TOOLS)/golangci-lint run $(addsuffix /...,$(addprefix ./,$(MODULES)))
	$(BUF) lint proto
	$(BUF) format proto --diff --exit-code

## build: every binary into bin/.
build:
	@mkdir -p bin
	@go build -o bin/issuer ./services/issuer/cmd/issuer
	@go build -o bin/validator ./services/validator/cmd/validator
	@go build -o bin/gatepassctl ./services/issuer/cmd/gatepassctl

## test: every test of every module, with the race detector.
test: check-generated
	go test $(GO_TEST_FLAGS) $(addsuffix /...,$(addprefix ./,$(MODULES)))

## test-short: the fast tests (-short skips the end-to-end and chaos suites and runs two simulator seeds).
test-short:
	go test -short -count=1 $(addsuffix /...,$(addprefix ./,$(MODULES)))

## sim: the deterministic simulator over SEEDS seeds from SEED (default 1000 from 1).
SEEDS ?= 1000
SEED ?= 1
sim:
	@set -o pipefail; go test -count=1 -timeout 0 -v -run '^TestSimSeeds$$' ./services/validator/internal/sim -args -seeds $(SEEDS) -seed $(SEED) \
	  | grep -v -e '^=== ' -e '^--- PASS' -e '^PASS$$' -e '^ok '

## chaos: the chaos suite on real processes and a three-node NATS cluster (CHAOS_TIME, default 10m).
CHAOS_TIME ?= 10m
chaos:
	@set -o pipefail; CHAOS_TIME=$(CHAOS_TIME) go test -count=1 -timeout 0 -v -run '^TestChaos$$' ./services/validator/internal/e2e \
	  | grep -v -e '^=== ' -e '^--- PASS' -e '^PASS$$' -e '^ok '

## bench: the benchmarks.
bench:
	go test -run '^$$' -bench . -benchmem $(addsuffix /...,$(addprefix ./,$(MODULES)))

## load: the load program against make-run-style processes, with the empty
## grpc-go and net/http handlers as references (LOAD_ARGS, e.g. -tokens 1000000;
## -nats 3 puts the token stream on a three-server cluster, the production shape;
## -data DIR keeps the seeded system for the next run).
LOAD_ARGS ?=
load: build
	@go build -o bin/load ./services/validator/cmd/load
	@go build -o bin/nats-server github.com/nats-io/nats-server/v2
	@./bin/load -bin bin $(LOAD_ARGS)

## run: the whole system on this machine (issuer with embedded NATS, one validator).
run: build
	@./deploy/local/run.sh

tidy:
	for m in $(MODULES); do (cd $$m && go mod tidy); done
