# Fails on 6.12 only: one kernel's failure must fail the whole run, named with that kernel.
case $(uname -r) in
    6.12.*) fail kernel "this check fails on purpose on $(uname -r)" ;;
    *) pass kernel ;;
esac
