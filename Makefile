# shardstock developer entry points. Integration tests and `dev` need a MariaDB/MySQL server
# binary: tools/ensure-mysql.sh finds one (or installs it as root on Debian/Ubuntu).

GO       ?= go
BIN      := bin/shardstock
FUZZTIME ?= 20s
# The router's fuzz targets (router/fuzz_test.go).
FUZZ_TARGETS := FuzzPartition FuzzValidateLayout FuzzProposeChange

.PHONY: all build dev test vet fuzz clean

all: vet build

build:
	$(GO) build -o $(BIN) ./tools/shardstock

dev:
	tools/ensure-mysql.sh
	$(GO) build -o $(BIN) ./tools/shardstock
	$(BIN) dev --demo

test:
	tools/ensure-mysql.sh
	tools/ensure-nats.sh
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

fuzz:
	@for target in $(FUZZ_TARGETS); do \
		echo "fuzz $$target for $(FUZZTIME)"; \
		$(GO) test ./router -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

clean:
	rm -rf bin .shardstock-dev
	$(GO) clean -testcache
