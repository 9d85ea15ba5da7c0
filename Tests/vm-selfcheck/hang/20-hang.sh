# Hangs until something kills it.
sleep 100000
pass not-reached
