# Shared by the Benchmarks/*/run scripts (sourced, bash). Each benchmark owns its cgroups and its
# clean-up; this file only holds what every one of them does the same way.
#
#   bench_require_root NAME WHY          exit 77 unless root
#   bench_oomctl REPO [PATH]             prints the oomctl binary to measure: PATH, or a release build with
#                                        --static-swift-stdlib into REPO/.build-bench (build output to stderr)
#   bench_own_memcg                      prints this process's own memory cgroup directory (v1, from the
#                                        `:memory:` line of /proc/self/cgroup); test cgroups go strictly below it
#   bench_compile SRC OUT                compiles a helper (lib/spawn-measure.c, …) with $CC, cc, gcc or clang
#   bench_remove_tree DIR                rmdir DIR and everything below it, leaves first, retrying briefly
#                                        (a cgroup whose last process just exited may refuse for a moment);
#                                        returns 1 if anything is left
#   bench_header                         prints "# DATE, N cores, load L, kernel K" (for the report)

bench_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench_memroot=/sys/fs/cgroup/memory

bench_require_root() {
    (( EUID == 0 )) || { echo "$1: needs root ($2)" >&2; exit 77; }
}

bench_oomctl() {
    local repo=$1 path=${2:-}
    if [[ -z $path ]]; then
        echo "# building oomctl (release, static Swift stdlib) in $repo/.build-bench" >&2
        (cd "$repo" && swift build -c release --static-swift-stdlib --scratch-path .build-bench >&2) || return 1
        path=$repo/.build-bench/release/oomctl
    fi
    [[ -x $path ]] || { echo "'$path' is not an executable" >&2; return 1; }
    # Absolute, so that it survives a cd and can go into `sh -c` strings.
    echo "$(cd "$(dirname "$path")" && pwd)/$(basename "$path")"
}

bench_own_memcg() {
    local own
    own=$(sed -n 's/^[0-9]*:\([^:]*,\)\{0,1\}memory\(,[^:]*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup)
    [[ -n $own && -d $bench_memroot$own ]] || {
        echo "cannot find this process's memory cgroup (v1) in /proc/self/cgroup" >&2
        return 1
    }
    echo "$bench_memroot${own%/}"
}

bench_compile() {
    local cc=${CC:-$(command -v cc || command -v gcc || command -v clang || true)}
    [[ -n $cc ]] || { echo "needs a C compiler (cc, gcc or clang) for $1" >&2; return 1; }
    "$cc" -O2 -o "$2" "$1"
}

bench_remove_tree() {
    local tree=$1 dir attempt
    [[ -d $tree ]] || return 0
    # -depth lists children before their parents.
    while IFS= read -r dir; do
        for attempt in 1 2 3 4 5 6 7 8 9 10; do
            rmdir "$dir" 2>/dev/null && break
            sleep 0.1
        done
    done < <(find "$tree" -depth -mindepth 0 -type d)
    [[ ! -d $tree ]]
}

bench_header() {
    echo "# $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)"
}
