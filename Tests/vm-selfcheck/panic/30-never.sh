# Never reached: the kernel panicked in 20-panic.
pass not-reached
