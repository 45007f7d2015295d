#!/usr/bin/env bash
# Runs every check of every module: gofmt, go vet (and a 32-bit vet and build
# of the root module), the tests twice (once with the race detector, once
# without: see below), the root package's tests once more in the second
# client read mode, and each fuzz target for a bounded budget (FUZZTIME,
# default 20000x executions: a count, not a duration, because Go 1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" when a duration expires mid-execution,
# golang/go#75804; FUZZTIME=30s works too).
# Usage: scripts/test.sh            (from anywhere in the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export GOWORK=off # each module on its own, with its replace directives, as on a fresh clone
fuzztime="${FUZZTIME:-20000x}"
modules=(. cmd/binproto examples observe/prometheus observe/otel)

# The PROXY protocol integration tests (cmd/binproto/internal/haproxytest)
# run against the real HAProxy: install Debian's package when it is
# missing (CI runs as root on a fresh Debian machine), and make its absence
# a failure rather than a skip.
echo "== haproxy"
if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then
  if ! command -v apt-get >/dev/null; then
    echo "haproxy is missing and there is no apt-get to install it; install haproxy (2.x)"; exit 1
  fi
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  if ! { $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq &&
         $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends haproxy; } >/tmp/binproto-haproxy-install.log 2>&1; then
    cat /tmp/binproto-haproxy-install.log
    echo "installing haproxy with apt-get failed (log above)"; exit 1
  fi
fi
export PATH="$PATH:/usr/sbin"
haproxy -v 2>&1 | sed -n 1p
export BINPROTO_REQUIRE_HAPROXY=1

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

for m in "${modules[@]}"; do
  echo "== go vet ($m)"
  (cd "$m" && go vet ./...)
done

echo "== GOARCH=386 go vet (.): the library builds on 32-bit platforms"
GOARCH=386 go vet ./...
echo "== GOARCH=arm go build (.)"
GOARCH=arm go build ./...

for m in "${modules[@]}"; do
  echo "== go test -race ($m)"
  (cd "$m" && go test -race -count=1 -timeout 20m ./...)
done

# The race detector changes what the tests can check, so the whole suite runs
# a second time without it (about 2 minutes on 2 cores, cold cache):
#   - the allocation and buffer-reuse tests (testing.AllocsPerRun, pools) build
#     only under //go:build !race (schema/alloc_test.go, batch_alloc_test.go,
#     wire/pool_norace_test.go): the race run never compiles them;
#   - the load tests scale down under the race detector (raceEnabled in
#     race_on_test.go): TestHostileLoad runs 200 clients × 100 requests with
#     -race and its full 500 × 200 here.
for m in "${modules[@]}"; do
  echo "== go test, no race detector ($m): alloc/pool tests, full-size load tests"
  (cd "$m" && go test -count=1 -timeout 20m ./...)
done

# A client reads its connection in one of two modes (see Client in
# client.go): the waiting caller reads its own reply (the default without push
# handlers), or a goroutine reads all the time. The runs above use the modes
# as the tests ask; this one runs every test of the root package with every
# client in the always-reading mode, under the race detector.
echo "== go test -race (.), every client always reading"
BINPROTO_TEST_CLIENT_READ=always go test -race -count=1 -timeout 20m .

echo "== fuzz targets, ${fuzztime} each"
for f in $(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do
  dir=$(dirname "$f")
  for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
    echo "-- $dir $t"
    (cd "$dir" && go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" -timeout 5m .)
  done
done
echo "== all checks passed"
