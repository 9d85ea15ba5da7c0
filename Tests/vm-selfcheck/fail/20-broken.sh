# One failing check.
pass before-the-failure
fail deliberate "this check fails on purpose"
