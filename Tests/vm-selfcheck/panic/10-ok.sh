# Passes, to show the checks around a broken one still run.
pass ok
