# Crashes the guest kernel (sysrq c).
echo c >/proc/sysrq-trigger
sleep 30
pass not-reached
