# lotgate — `make help` lists the targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
CONFIG  ?= configs/site.example.yaml
BENCH   ?= .
PKGS    ?= ./...

.DEFAULT_GOAL := help
.PHONY: help run test build bench lint cross clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

run: build ## run the gateway on the example site with simulated devices
	./bin/lotgate run --config $(CONFIG)

test: ## run every test with the race detector
	CGO_ENABLED=1 $(GO) test -race -count=1 $(PKGS)

build: ## build bin/lotgate (version from git)
	CGO_ENABLED=1 $(GO) build -ldflags '$(LDFLAGS)' -o bin/lotgate ./cmd/lotgate

bench: ## run the benchmarks (see docs/PERFORMANCE.md)
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem $(PKGS)

lint: ## go vet and a gofmt check
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

cross: ## build bin/lotgate-linux-arm64 and bin/lotgate-linux-armv7 (needs gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf)
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc $(GO) build -ldflags '$(LDFLAGS)' -o bin/lotgate-linux-arm64 ./cmd/lotgate
	CGO_ENABLED=1 GOOS=linux GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc $(GO) build -ldflags '$(LDFLAGS)' -o bin/lotgate-linux-armv7 ./cmd/lotgate

clean: ## remove build output
	rm -rf bin
