# Shared by the benchmark scripts (sourced): a scratch directory removed on exit, and the
# server the script started (its pid in $server_pid) stopped on exit, waited for up to 5 s.
# Usage: . "$here/../common.sh"; bench_scratch NAME   -> $tmp
bench_cleanup() {
    if [[ -n ${server_pid:-} ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid"
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$tmp"
}

bench_scratch() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/opsh-$1.XXXXXX")
    server_pid=
    trap bench_cleanup EXIT
}
