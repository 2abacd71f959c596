# Everything here runs offline with pinned tools: protoc plugins and
# staticcheck are Go tools in tools/go.mod; buf comes from npm (tools/npm).
BUF := tools/npm/node_modules/.bin/buf
GO_FILES = $(shell git ls-files '*.go' | grep -v '^gen/')

.PHONY: all build test generate check-generate lint tools run

all: build

build:
	go build -o authd ./cmd/authd

run:
	go run ./cmd/authd serve

test:
	go test -race -count=1 ./...

# buf is pinned exactly in tools/npm/package.json, and pins its platform
# binaries exactly itself, so no lockfile is kept.
$(BUF): tools/npm/package.json
	cd tools/npm && npm install --no-audit --no-fund --silent
	touch $(BUF)

tools: $(BUF)

# generate reproduces gen/ from proto/ byte for byte.
generate: $(BUF)
	rm -rf gen
	$(BUF) generate

# check-generate fails when gen/ differs from what proto/ generates.
check-generate: generate
	@git diff --exit-code --stat -- gen || (echo "gen/ is out of date: run make generate and commit"; exit 1)
	@test -z "$$(git status --porcelain -- gen)" || (git status --porcelain -- gen; echo "gen/ has untracked files: run make generate and commit"; exit 1)

lint: $(BUF)
	@out=$$(gofmt -l $(GO_FILES)); test -z "$$out" || (echo "gofmt needed:"; echo "$$out"; exit 1)
	go vet ./...
	go tool -modfile=tools/go.mod staticcheck ./...
	$(BUF) lint
