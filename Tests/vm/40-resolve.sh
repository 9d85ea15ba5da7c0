# Cgroup resolution on v2: a hierarchy-relative path, an absolute /sys/fs/cgroup path and --pid name the
# same cgroup; the default is the root; unknown cgroups and '..' give the documented errors.
mkcg /res/a >/dev/null && mkcg "/res/with space" >/dev/null || { fail mkcg "cannot create /res/a"; exit 0; }
spawn_in_cg /res/a sleep 100000
sleeper=$SPAWNED
wait_for 20 grep -qx "$sleeper" $CG/res/a/cgroup.procs || fail setup-sleeper "sleep $sleeper not in /res/a"

# root_is CHECK WANT ARGS...: `oomctl snapshot ARGS --json` exits 0 with .root == WANT.
root_is() {
    _c=$1 _want=$2; shift 2
    _got=$(oomctl snapshot "$@" --json 2>/tmp/res.err | jq -r '.root + " " + .cgroups[0].path')
    if [ "$_got" = "$_want $_want" ]; then pass "$_c"
    else fail "$_c" "oomctl snapshot $* gave root/first cgroup '$_got', want '$_want': $(head -c 200 /tmp/res.err)"; fi
}
root_is relative-path /res/a /res/a
root_is absolute-path /res/a /sys/fs/cgroup/res/a
root_is by-pid /res/a --pid "$sleeper"
root_is default-is-root / 
root_is absolute-mount-point / /sys/fs/cgroup
root_is name-with-space "/res/with space" "/res/with space"

# expect_error CHECK STATUS TEXT ARGS...: `oomctl snapshot ARGS` exits STATUS, stderr holds TEXT, and
# nothing is printed on stdout.
expect_error() {
    _c=$1 _want=$2 _text=$3; shift 3
    oomctl snapshot "$@" >/tmp/res.out 2>/tmp/res.err
    _st=$?
    if [ $_st = "$_want" ] && grep -qF -- "$_text" /tmp/res.err && ! [ -s /tmp/res.out ]; then pass "$_c"
    else fail "$_c" "oomctl snapshot $*: status $_st (want $_want), stderr: $(head -c 200 /tmp/res.err)"; fi
}
expect_error unknown-relative 66 'no such cgroup' /res/missing
expect_error unknown-absolute 66 'no such cgroup' /sys/fs/cgroup/res/missing
expect_error unknown-json 66 'no such cgroup' /res/missing --json
expect_error dotdot-relative 64 "'..'" /res/../res/a
expect_error dotdot-absolute 64 "'..'" /sys/fs/cgroup/../../etc
expect_error pid-missing 66 '' --pid 999999
check nothing-created sh -c '! [ -e /sys/fs/cgroup/res/missing ]'
